//! `--heatmap FILE`: a latency heatmap of the whole run, written once at exit as SVG or PNG.
//!
//! A [`Heatmap`] collects **one histogram series**, one histogram per interval: a tool with
//! several sections (operations, pids) either merges them before [`Heatmap::push`] or pushes a
//! whole [`Report`] with [`Heatmap::push_report`], which merges its histograms into one column.
//! [`Heatmap::write`] then draws, with [plotters](https://docs.rs/plotters):
//!
//! - **columns**: one per pushed interval, in push order; the x axis is labelled with the time
//!   of the interval's snapshot in seconds since the first one (`+0s`, `+5s`, …);
//! - **rows**: the latency buckets, the lowest at the bottom: slot 0 up to the highest slot
//!   that counted anything in *any* interval, plus the overflow slot as its own top row when
//!   any interval had overflow; the y axis is labelled with each bucket's bounds as bcc prints
//!   them (`2048 -> 4095`, the overflow row `>= 134217728`), its title names the unit
//!   (`latency (usecs)`);
//! - **colour**: the count of the cell on a sequential white → yellow → red scale
//!   ([`colour`]): an empty cell is [`EMPTY`] (white, as the page), any count is at least pale
//!   yellow, and the largest count of the run is [`HOTTEST`] (dark red). The scale is
//!   logarithmic in `1 + count`, so that a rare slow bucket stays visible beside a busy one;
//!   a colour bar on the right gives counts for its colours;
//! - the title given to [`Heatmap::new`] on top.
//!
//! Every cell is drawn, empty ones too, so the file holds exactly `intervals × rows` cells:
//! in the SVG each cell is one `<rect>` (the only other `<rect>` is the page's background; the
//! colour bar is made of lines). Rows are at least 16 pixels high and columns at least one
//! pixel wide (8 up to 150 intervals), so 60 rows and a few hundred intervals stay readable:
//! 300 intervals × 60 rows make a 1700 × 1075 image, a 1.6 MB SVG (about 90 bytes a cell) or
//! a 330 kB PNG. Every interval is kept in memory until [`Heatmap::write`]: `max_slot + 2`
//! counters each.
//!
//! A run with no interval, or in which nothing was counted, still writes a valid file: the
//! title and a one-line note saying so (`no interval was recorded`, `nothing was counted in 3
//! intervals`), and no cell.
//!
//! Text is laid out (and, in a PNG, drawn) with DejaVu Sans embedded in the binary: no font
//! library or font file is needed on the machine. An SVG names the font `sans-serif`.
//!
//! ```no_run
//! use std::{path::Path, time::SystemTime};
//! use hist_output::heatmap::Heatmap;
//! use hist_user::{Histogram, hist_core::{Layout, Unit}};
//!
//! let mut heatmap = Heatmap::new(Layout::log2(26), Unit::Microseconds, "cpudist".into());
//! let mut hist = Histogram::new(26);
//! hist.add(11, 40); // 2048 -> 4095 usecs
//! heatmap.push(SystemTime::now(), &hist); // once per interval
//! heatmap.write(Path::new("cpudist.svg"))?; // at exit
//! # Ok::<(), hist_output::heatmap::HeatmapError>(())
//! ```

use std::{
    path::{Path, PathBuf},
    sync::Once,
    time::SystemTime,
};

use hist_core::{Buckets, Layout, Unit};
use plotters::{
    coord::{Shift, combinators::BindKeyPoints},
    prelude::{
        BitMapBackend, ChartBuilder, Color, DrawingArea, DrawingAreaErrorKind, DrawingBackend,
        IntoDrawingArea, IntoFont, PathElement, RGBColor, Rectangle, SVGBackend, Text, WHITE,
    },
    style::{
        IntoTextStyle,
        text_anchor::{HPos, Pos, VPos},
    },
};

use hist_user::{Histogram, Report};

/// The colour of an empty cell: white, as the page.
pub const EMPTY: [u8; 3] = [255, 255, 255];
/// The colour of the cell(s) holding the largest count of the run: dark red.
pub const HOTTEST: [u8; 3] = [0x80, 0x00, 0x26];
/// ColorBrewer's YlOrRd, from a count of 1 up to the hottest cell ([`HOTTEST`], `0x800026`).
const SCALE: [u32; 9] = [
    0xffffcc, 0xffeda0, 0xfed976, 0xfeb24c, 0xfd8d3c, 0xfc4e2a, 0xe31a1c, 0xbd0026, 0x800026,
];
const FONT: &str = "sans-serif";
const LABEL_SIZE: f64 = 15.0;
const ROW_PX: u32 = 16;
const LEGEND_W: u32 = 120;
const MARGIN: u32 = 10;
const X_AREA: u32 = 55;

/// The colour of a cell that counted `count` values when the largest count of the run is
/// `hottest`: [`EMPTY`] for 0, then ColorBrewer's YlOrRd by `ln(1 + count) / ln(1 + hottest)`,
/// from pale yellow up to [`HOTTEST`] for `count >= hottest`.
///
/// Only the hottest count gets [`HOTTEST`]: a count just below it (999 of 1000) is drawn one
/// shade lighter rather than rounded to the same colour.
pub fn colour(count: u64, hottest: u64) -> [u8; 3] {
    if count == 0 || hottest == 0 {
        return EMPTY;
    }
    let t = (count as f64).ln_1p() / (hottest as f64).ln_1p();
    scale(if count < hottest {
        t.min(511.0 / 512.0)
    } else {
        1.0
    })
}

/// The colour at `t` in `0..=1` along [`SCALE`], interpolated linearly between its stops.
fn scale(t: f64) -> [u8; 3] {
    let x = t * (SCALE.len() - 1) as f64;
    let i = (x as usize).min(SCALE.len() - 2);
    let rgb = |hex: u32| hex.to_be_bytes().map(f64::from);
    let ([_, a @ ..], [_, b @ ..], f) = (rgb(SCALE[i]), rgb(SCALE[i + 1]), x - i as f64);
    std::array::from_fn(|k| (a[k] + (b[k] - a[k]) * f).round() as u8)
}

fn rgb([r, g, b]: [u8; 3]) -> RGBColor {
    RGBColor(r, g, b)
}

/// [`Heatmap::write`] failed.
#[derive(Debug, thiserror::Error)]
pub enum HeatmapError {
    /// The file name ends in neither `.svg` nor `.png`, so the format is unknown.
    #[error(
        "cannot write the heatmap to {}: unknown file type; the name must end in .svg or .png",
        path.display()
    )]
    Extension {
        /// The file asked for.
        path: PathBuf,
    },
    /// The file cannot be opened for writing (a missing folder, no permission).
    #[error(
        "cannot write the heatmap to {}: {cause}; name a file in a folder you can write to",
        path.display()
    )]
    Open {
        /// The file asked for.
        path: PathBuf,
        /// Why it cannot be opened.
        cause: std::io::Error,
    },
    /// plotters could not draw the heatmap or write the file (a missing directory, a full
    /// disk…).
    #[error("cannot write the heatmap to {}: {message}", path.display())]
    Draw {
        /// The file asked for.
        path: PathBuf,
        /// What went wrong, from plotters or the file system.
        message: String,
    },
}

/// Checks that [`Heatmap::write`] can write `path`: its type is known (`.svg` or `.png`) and the
/// file can be opened for writing (it is created, empty, when it does not exist), so that a tool
/// refuses a bad `--heatmap FILE` before it starts tracing rather than at exit, after the run.
pub fn check_file(path: &Path) -> Result<(), HeatmapError> {
    is_svg(path)?;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map(drop)
        .map_err(|cause| HeatmapError::Open {
            path: path.into(),
            cause,
        })
}

/// `true` for `.svg`, `false` for `.png`, in any case.
fn is_svg(path: &Path) -> Result<bool, HeatmapError> {
    let ext = path.extension().and_then(|e| e.to_str());
    match ext.map(str::to_ascii_lowercase).as_deref() {
        Some("svg") => Ok(true),
        Some("png") => Ok(false),
        _ => Err(HeatmapError::Extension { path: path.into() }),
    }
}

/// The heatmap of one histogram series over a run: time × latency bucket, count as colour
/// (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct Heatmap {
    layout: Layout,
    unit: Unit,
    title: String,
    /// One column per interval: its time and its counts on `layout`'s slots.
    columns: Vec<(SystemTime, Histogram)>,
}

impl Heatmap {
    /// An empty heatmap of histograms with slots `layout` and values in `unit`, titled `title`
    /// (`"cpudist: on-CPU time"`).
    pub fn new(layout: Layout, unit: Unit, title: String) -> Self {
        Self {
            layout,
            unit,
            title,
            columns: Vec::new(),
        }
    }

    /// Adds the column of one interval: `hist`, whose snapshot was taken at `time`.
    ///
    /// A heatmap shows one series: a tool with several sections merges them first (or uses
    /// [`Heatmap::push_report`]). Counts are read slot by slot under the heatmap's layout; a
    /// finite slot above its `max_slot` counts as overflow, as does `hist`'s overflow.
    pub fn push(&mut self, time: SystemTime, hist: &Histogram) {
        let column = self.column(hist);
        self.columns.push((time, column));
    }

    /// Adds the column of one interval from `report`: the sum of all its histograms (with
    /// [`Histogram::merge`]), at the report's time. The heatmap keeps its own layout and unit.
    pub fn push_report(&mut self, report: &Report) {
        let mut column = self.column(&Histogram::new(self.layout.max_slot()));
        for (_, hist, _) in &report.histograms {
            column
                .merge(&self.column(hist))
                .expect("both on the heatmap's slots");
        }
        self.columns.push((report.time, column));
    }

    /// How many intervals (columns) were pushed.
    pub fn intervals(&self) -> usize {
        self.columns.len()
    }

    fn column(&self, hist: &Histogram) -> Histogram {
        let mut column = Histogram::new(self.layout.max_slot());
        for (slot, &count) in hist.finite().iter().enumerate() {
            column.add(slot as u32, count);
        }
        column.add(self.layout.overflow_slot(), hist.overflow());
        column
    }

    /// The slots shown, bottom row first (see the [module docs](self)).
    fn rows(&self) -> Vec<u32> {
        let finite = |h: &Histogram| h.finite().iter().rposition(|&c| c != 0);
        let top = self.columns.iter().filter_map(|(_, h)| finite(h)).max();
        let mut rows: Vec<u32> = (0..top.map_or(0, |top| top as u32 + 1)).collect();
        if self.columns.iter().any(|(_, h)| h.overflow() != 0) {
            rows.push(self.layout.overflow_slot());
        }
        rows
    }

    fn row_label(&self, slot: u32) -> String {
        let bounds = self.layout.bounds(slot);
        if slot == self.layout.overflow_slot() {
            format!(">= {}", bounds.start())
        } else {
            format!("{} -> {}", bounds.start(), bounds.end())
        }
    }

    /// `+5s`: the time of column `col` since the first one (`+0.5s` below whole seconds).
    fn time_label(&self, col: usize) -> String {
        let (Some((first, _)), Some((time, _))) = (self.columns.first(), self.columns.get(col))
        else {
            return String::new();
        };
        let secs = time
            .duration_since(*first)
            .unwrap_or_default()
            .as_secs_f64();
        if (secs - secs.round()).abs() < 0.05 {
            format!("+{secs:.0}s")
        } else {
            format!("+{secs:.1}s")
        }
    }

    /// Writes the heatmap to `path`: SVG for a name ending in `.svg`, PNG for `.png` (in any
    /// case). An existing file is replaced.
    ///
    /// # Errors
    ///
    /// [`HeatmapError::Extension`] for any other name (nothing is written),
    /// [`HeatmapError::Draw`] when the file cannot be drawn or written.
    pub fn write(&self, path: &Path) -> Result<(), HeatmapError> {
        let svg = is_svg(path)?;
        FONT_ONCE.call_once(|| {
            // Only fails on a corrupt font, which then shows as a drawing error below.
            let _ = plotters::style::register_font(
                FONT,
                plotters::style::FontStyle::Normal,
                dejavu::sans::regular(),
            );
        });
        let rows = self.rows();
        let size = self.size(&rows);
        let drawn = if svg {
            let root = SVGBackend::new(path, size).into_drawing_area();
            let drawn = self.draw(&root, &rows).and_then(|()| root.present());
            drawn.map_err(|e| e.to_string())
        } else {
            let root = BitMapBackend::new(path, size).into_drawing_area();
            let drawn = self.draw(&root, &rows).and_then(|()| root.present());
            drawn.map_err(|e| e.to_string())
        };
        drawn.map_err(|message| HeatmapError::Draw {
            path: path.into(),
            message,
        })
    }

    /// The image's size in pixels for `rows`.
    fn size(&self, rows: &[u32]) -> (u32, u32) {
        if rows.is_empty() {
            return (640, 200);
        }
        let cols = self.columns.len() as u32;
        let plot_w = (cols * 8).clamp(480, 1200).max(cols);
        let plot_h = (rows.len() as u32 * ROW_PX).max(240);
        let (w, h) = (
            self.y_area(rows) + plot_w + 2 * MARGIN,
            plot_h + X_AREA + 2 * MARGIN,
        );
        (w + LEGEND_W, h + 40)
    }

    /// The width of the y axis' labels and title.
    fn y_area(&self, rows: &[u32]) -> u32 {
        let font = (FONT, LABEL_SIZE).into_font();
        let width = |s: &str| font.box_size(s).map_or(s.len() as u32 * 9, |(w, _)| w);
        rows.iter()
            .map(|&s| width(&self.row_label(s)))
            .max()
            .unwrap_or(0)
            + 45
    }

    fn draw<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, Shift>,
        rows: &[u32],
    ) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
        root.fill(&WHITE)?;
        let counts = || {
            self.columns
                .iter()
                .enumerate()
                .flat_map(move |(c, (_, h))| {
                    rows.iter()
                        .enumerate()
                        .map(move |(r, &s)| (c, r, h.count(s)))
                })
        };
        if rows.is_empty() {
            let root = root.titled(&self.title, (FONT, 22))?;
            let note = match self.columns.len() {
                0 => "no interval was recorded".to_owned(),
                n => format!(
                    "nothing was counted in {n} interval{}",
                    if n == 1 { "" } else { "s" }
                ),
            };
            let (w, h) = root.dim_in_pixel();
            let style = (FONT, 18).into_font().into_text_style(&root);
            let centre = style.pos(Pos::new(HPos::Center, VPos::Center));
            return root.draw(&Text::new(note, (w as i32 / 2, h as i32 / 2), centre));
        }
        let hottest = counts().map(|(_, _, n)| n).max().unwrap_or(0);
        let (width, _) = root.dim_in_pixel();
        let (chart_area, _) = root.split_horizontally(width - LEGEND_W);
        let (cols, plot_w) = (self.columns.len(), width - LEGEND_W - self.y_area(rows));
        let step = nice(cols.div_ceil((plot_w as usize / 70).max(1)));
        // In chart coordinates cell (c, r) spans [2c, 2c + 2] × [2r, 2r + 2]: labels at the
        // centres 2c + 1 and 2r + 1 stay integers, which plotters' formatters take.
        let x_keys = (0..cols).step_by(step).map(|c| 2 * c as i32 + 1).collect();
        let y_keys = (0..rows.len()).map(|r| 2 * r as i32 + 1).collect();
        let mut chart = ChartBuilder::on(&chart_area)
            .caption(&self.title, (FONT, 22))
            .margin(MARGIN)
            .x_label_area_size(X_AREA)
            .y_label_area_size(self.y_area(rows))
            .build_cartesian_2d(
                (0..2 * cols as i32).with_key_points(x_keys),
                (0..2 * rows.len() as i32).with_key_points(y_keys),
            )?;
        chart.draw_series(counts().map(|(c, r, n)| {
            let (x, y) = (2 * c as i32, 2 * r as i32);
            let cell = [(x, y), (x + 2, y + 2)];
            Rectangle::new(cell, rgb(colour(n, hottest)).filled())
        }))?;
        chart
            .configure_mesh()
            .disable_mesh()
            .label_style((FONT, LABEL_SIZE))
            .axis_desc_style((FONT, LABEL_SIZE + 1.0))
            .x_desc("time since the first interval")
            .y_desc(format!("latency ({})", self.unit.label()))
            .x_label_formatter(&|&x| self.time_label(x as usize / 2))
            .y_label_formatter(&|&y| self.row_label(rows[y as usize / 2]))
            .draw()?;
        let (_, ys) = chart.plotting_area().get_pixel_range();
        legend(
            root,
            hottest,
            ((width - LEGEND_W + 10) as i32, ys.start),
            ys.len() as i32,
        )
    }
}

/// The colour bar at `(x, top)`, at most `height` pixels high: one line per pixel, and the
/// counts 1, 10, 100… and `hottest` beside it at their colours.
fn legend<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    hottest: u64,
    (x, top): (i32, i32),
    height: i32,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let bar = height.min(256) - 1;
    for y in 0..=bar {
        let colour = rgb(scale(1.0 - y as f64 / bar as f64));
        root.draw(&PathElement::new([(x, top + y), (x + 18, top + y)], colour))?;
    }
    let style = (FONT, LABEL_SIZE).into_font().into_text_style(root);
    let left = style.pos(Pos::new(HPos::Left, VPos::Center));
    let y_of = |n: u64| {
        let t = (n as f64).ln_1p() / (hottest as f64).ln_1p();
        top + bar - (t * bar as f64) as i32
    };
    // `hottest` at the top; below it the powers of ten that leave a label's height of room
    // to it and to the one drawn before (near the top, where a decade is a few pixels).
    let room = LABEL_SIZE as i32 + 3;
    let mut below = i32::MAX;
    let ticks = std::iter::successors(Some(1u64), |&n| n.checked_mul(10));
    for n in ticks.take_while(|&n| n < hottest) {
        let y = y_of(n);
        if y - top >= room && below - y >= room {
            root.draw(&Text::new(n.to_string(), (x + 24, y), left.clone()))?;
            below = y;
        }
    }
    root.draw(&Text::new(hottest.to_string(), (x + 24, top), left.clone()))?;
    for (i, note) in ["count", "(log scale,", "white = 0)"].iter().enumerate() {
        let at = (x, top + bar + 16 + 18 * i as i32);
        root.draw(&Text::new(*note, at, left.clone()))?;
    }
    Ok(())
}

static FONT_ONCE: Once = Once::new();

/// The smallest of 1, 2, 5, 10, 20, 50… that is at least `n`: a step between time labels.
fn nice(n: usize) -> usize {
    let mut power = 1;
    loop {
        if let Some(step) = [1, 2, 5].map(|m| m * power).into_iter().find(|&s| s >= n) {
            return step;
        }
        power *= 10;
    }
}
