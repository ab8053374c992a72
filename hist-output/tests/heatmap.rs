//! `--heatmap FILE` (`hist_output::heatmap`): the files are read back, as XML and as
//! pixels, and every cell is checked against the counts that went in.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hist_core::{Layout, Unit};
use hist_output::heatmap::{EMPTY, HOTTEST, Heatmap, HeatmapError, colour};
use hist_user::{Drops, Histogram, Report};

const MAX_SLOT: u32 = 26;
/// The largest count of the run, alone in interval 3, slot 5 (32 -> 63 usecs).
const PEAK: u64 = 1000;

/// A file in the temp directory that no other test (or run) uses; removed when dropped.
///
/// With `HIST_HEATMAP_KEEP=DIR` in the environment the files are written to `DIR` and kept,
/// to look at them.
struct TempFile(PathBuf);

const KEEP: &str = "HIST_HEATMAP_KEEP";

impl TempFile {
    fn new(name: &str) -> Self {
        if let Some(dir) = std::env::var_os(KEEP) {
            return Self(Path::new(&dir).join(name));
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let file = format!("hist-heatmap-{}-{nanos}-{name}", std::process::id());
        Self(std::env::temp_dir().join(file))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if std::env::var_os(KEEP).is_none() {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

/// Five intervals, 5 s apart: (finite slot, count) pairs and the overflow count of each.
fn intervals() -> Vec<(Vec<(u32, u64)>, u64)> {
    vec![
        (vec![(3, 5), (4, 10), (5, 2)], 0),
        (vec![(2, 1), (6, 40), (7, 7)], 0),
        (vec![], 0),
        (vec![(5, PEAK), (9, 3), (4, 999)], 0),
        (vec![(4, 8), (0, 1)], 2),
    ]
}

/// The slots shown (rows, bottom first) for [`intervals`]: slots 0..=9, then the overflow slot.
fn shown_slots() -> Vec<u32> {
    (0..=9).chain([MAX_SLOT + 1]).collect()
}

fn histogram(finite: &[(u32, u64)], overflow: u64) -> Histogram {
    let mut hist = Histogram::new(MAX_SLOT);
    for &(slot, count) in finite {
        hist.add(slot, count);
    }
    hist.add(MAX_SLOT + 1, overflow);
    hist
}

fn heatmap() -> Heatmap {
    let mut heatmap = Heatmap::new(
        Layout::log2(MAX_SLOT),
        Unit::Microseconds,
        "cpudist: on-CPU time".into(),
    );
    for (i, (finite, overflow)) in intervals().iter().enumerate() {
        let time = start() + Duration::from_secs(5 * i as u64);
        heatmap.push(time, &histogram(finite, *overflow));
    }
    heatmap
}

/// `expected[column][row]`: the count of every cell, rows bottom first.
fn expected() -> Vec<Vec<u64>> {
    intervals()
        .iter()
        .map(|(finite, overflow)| {
            let hist = histogram(finite, *overflow);
            shown_slots().iter().map(|&slot| hist.count(slot)).collect()
        })
        .collect()
}

/// One `<rect>` of the SVG.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Rect {
    x: i64,
    y: i64,
    w: i64,
    h: i64,
    fill: [u8; 3],
}

impl Rect {
    fn centre(&self) -> (u32, u32) {
        ((self.x + self.w / 2) as u32, (self.y + self.h / 2) as u32)
    }
}

/// A parsed SVG: its size, its cells (every `<rect>` but the page's background) and texts.
struct Svg {
    size: (i64, i64),
    cells: Vec<Rect>,
    texts: Vec<String>,
}

impl Svg {
    /// Every one of `texts` is a text of the image.
    fn assert_texts(&self, texts: &[&str]) {
        for text in texts {
            assert!(
                self.texts.iter().any(|t| t == text),
                "{text}: {:?}",
                self.texts
            );
        }
    }
}

fn read_svg(path: &Path) -> Svg {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).expect("the heatmap is well-formed XML");
    let svg = doc.root_element();
    assert_eq!(svg.tag_name().name(), "svg");
    assert_eq!(
        svg.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let num = |node: roxmltree::Node, name| -> i64 {
        node.attribute(name)
            .unwrap_or_else(|| panic!("{name} missing: {node:?}"))
            .parse()
            .unwrap()
    };
    let size = (num(svg, "width"), num(svg, "height"));
    let rects: Vec<Rect> = svg
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .map(|n| {
            let fill = n.attribute("fill").unwrap();
            let hex = u32::from_str_radix(fill.strip_prefix('#').unwrap(), 16).unwrap();
            let [_, r, g, b] = hex.to_be_bytes();
            Rect {
                x: num(n, "x"),
                y: num(n, "y"),
                w: num(n, "width"),
                h: num(n, "height"),
                fill: [r, g, b],
            }
        })
        .collect();
    let background = Rect {
        x: 0,
        y: 0,
        w: size.0,
        h: size.1,
        fill: EMPTY,
    };
    assert_eq!(rects.first(), Some(&background), "the page comes first");
    let texts = svg
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or_default().trim().to_owned())
        .collect();
    Svg {
        size,
        cells: rects[1..].to_vec(),
        texts,
    }
}

/// The cells as `grid[column][row]`, rows bottom first, from their positions; asserts that they
/// tile a grid of `columns × rows` cells exactly once each.
fn grid(cells: &[Rect], columns: usize, rows: usize) -> Vec<Vec<Rect>> {
    let xs: BTreeSet<i64> = cells.iter().map(|c| c.x).collect();
    let ys: BTreeSet<i64> = cells.iter().map(|c| c.y).collect();
    assert_eq!((xs.len(), ys.len()), (columns, rows), "{cells:?}");
    let xs: Vec<i64> = xs.into_iter().collect();
    // SVG's y grows downwards: the bottom row has the largest y.
    let ys: Vec<i64> = ys.into_iter().rev().collect();
    let mut grid = vec![vec![None; rows]; columns];
    for cell in cells {
        let c = xs.binary_search(&cell.x).unwrap();
        let r = ys.iter().position(|&y| y == cell.y).unwrap();
        assert!(grid[c][r].replace(*cell).is_none(), "two cells at {c}, {r}");
        assert!(cell.w > 0 && cell.h > 0, "{cell:?}");
    }
    grid.into_iter()
        .map(|column| column.into_iter().map(Option::unwrap).collect())
        .collect()
}

#[test]
fn svg_has_one_cell_per_interval_and_slot_coloured_by_count() {
    let file = TempFile::new("run.svg");
    heatmap().write(&file.0).unwrap();
    let svg = read_svg(&file.0);

    let expected = expected();
    let (columns, rows) = (expected.len(), shown_slots().len());
    assert_eq!((columns, rows), (5, 11));
    assert_eq!(svg.cells.len(), columns * rows);
    let grid = grid(&svg.cells, columns, rows);

    for (c, column) in grid.iter().enumerate() {
        for (r, cell) in column.iter().enumerate() {
            let count = expected[c][r];
            assert_eq!(
                cell.fill,
                colour(count, PEAK),
                "column {c}, row {r}: {count}"
            );
        }
    }
    // The hottest cell, found by its colour alone, is the largest count: interval 3, slot 5.
    let hottest: Vec<(usize, usize)> = (0..columns)
        .flat_map(|c| (0..rows).map(move |r| (c, r)))
        .filter(|&(c, r)| grid[c][r].fill == HOTTEST)
        .collect();
    assert_eq!(hottest, [(3, 5)]);
    assert_eq!(shown_slots()[5], 5);
    // Empty cells (interval 2 is all empty) are drawn in the zero colour, and nothing else is.
    assert!(grid[2].iter().all(|cell| cell.fill == EMPTY));
    let empty = svg.cells.iter().filter(|c| c.fill == EMPTY).count();
    assert_eq!(
        empty,
        expected.iter().flatten().filter(|&&n| n == 0).count()
    );
    // 999 is a different colour from 1000, but close to it.
    assert_ne!(grid[3][4].fill, HOTTEST);

    // Rows are at least 16 px, columns wide enough to see.
    assert!(
        svg.cells.iter().all(|c| c.h >= 16 && c.w >= 8),
        "{:?}",
        svg.cells
    );
    // Axes: bucket bounds (bcc's form), the overflow row, times since the first interval.
    svg.assert_texts(&[
        "cpudist: on-CPU time",
        "latency (usecs)",
        "0 -> 1",
        "32 -> 63",
        "512 -> 1023",
        ">= 134217728",
        "+0s",
        "+5s",
        "+20s",
        "time since the first interval",
        "1000",
    ]);
    assert!(
        !svg.texts.iter().any(|t| t == "1024 -> 2047"),
        "slot 10 is empty everywhere"
    );
    assert!(svg.size.0 > 0 && svg.size.1 > 0);
}

#[test]
fn png_decodes_with_the_cells_of_the_svg() {
    let (svg_file, png_file) = (TempFile::new("run.svg"), TempFile::new("run.PNG"));
    let heatmap = heatmap();
    heatmap.write(&svg_file.0).unwrap();
    heatmap.write(&png_file.0).unwrap();
    let svg = read_svg(&svg_file.0);

    let bytes = std::fs::read(&png_file.0).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let png = image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
        .unwrap()
        .to_rgb8();
    // Same text measurements, same layout: the SVG's cells are where the PNG's are.
    assert_eq!(
        (png.width() as i64, png.height() as i64),
        svg.size,
        "same size as the SVG"
    );
    let grid = grid(&svg.cells, 5, 11);
    let expected = expected();
    for (c, column) in grid.iter().enumerate() {
        for (r, cell) in column.iter().enumerate() {
            let (x, y) = cell.centre();
            let want = colour(expected[c][r], PEAK);
            assert_eq!(png.get_pixel(x, y).0, want, "column {c}, row {r}");
        }
    }
    let (x, y) = grid[3][5].centre();
    assert_eq!(png.get_pixel(x, y).0, HOTTEST);
    // Inside the plot, the hottest colour is that cell's and no other's.
    let (left, top) = (grid[0][10].x, grid[0][10].y);
    let (right, bottom) = (grid[4][0].x + grid[4][0].w, grid[4][0].y + grid[4][0].h);
    let hot = grid[3][5];
    for y in top as u32..bottom as u32 {
        for x in left as u32..right as u32 {
            let inside = (hot.x..=hot.x + hot.w).contains(&(x as i64))
                && (hot.y..=hot.y + hot.h).contains(&(y as i64));
            if !inside {
                assert_ne!(png.get_pixel(x, y).0, HOTTEST, "at {x}, {y}");
            }
        }
    }
    // Text is drawn (dark pixels left of the plot: the bucket labels).
    let dark = (0..left as u32)
        .flat_map(|x| (top as u32..bottom as u32).map(move |y| (x, y)))
        .filter(|&(x, y)| png.get_pixel(x, y).0.iter().all(|&v| v < 100))
        .count();
    assert!(dark > 100, "{dark} dark pixels");
}

#[test]
fn push_report_merges_the_sections_into_one_column() {
    let mut heatmap = Heatmap::new(Layout::log2(MAX_SLOT), Unit::Milliseconds, "nfsdist".into());
    let report = |time: SystemTime, histograms: Vec<Histogram>| Report {
        tool: "nfsdist".into(),
        layout: Layout::log2(MAX_SLOT),
        unit: Unit::Milliseconds,
        section: Some("operation".into()),
        histograms: histograms
            .into_iter()
            .enumerate()
            .map(|(i, h)| (format!("op{i}"), h, None))
            .collect(),
        drops: Drops::NONE,
        time,
    };
    // 600 + 500 in slot 2 of the second interval beat the 700 alone in slot 1 of the first.
    heatmap.push_report(&report(
        start(),
        vec![histogram(&[(1, 700)], 0), histogram(&[(0, 3)], 0)],
    ));
    heatmap.push_report(&report(
        start() + Duration::from_millis(500),
        vec![histogram(&[(2, 600)], 0), histogram(&[(2, 500)], 0)],
    ));
    assert_eq!(heatmap.intervals(), 2);
    let file = TempFile::new("merged.svg");
    heatmap.write(&file.0).unwrap();
    let svg = read_svg(&file.0);
    assert_eq!(svg.cells.len(), 2 * 3);
    let grid = grid(&svg.cells, 2, 3);
    assert_eq!(grid[1][2].fill, HOTTEST);
    assert_eq!(grid[0][1].fill, colour(700, 1100));
    assert_eq!(grid[0][0].fill, colour(3, 1100));
    assert_eq!(grid[1][0].fill, EMPTY);
    svg.assert_texts(&["latency (msecs)", "4 -> 7", "+0s", "+0.5s", "1100"]);
}

#[test]
fn linear_slots_are_labelled_with_their_bounds() {
    let mut heatmap = Heatmap::new(Layout::linear(10, 5, 3), Unit::Nanoseconds, "t".into());
    heatmap.push(start(), &Histogram::from_counts(&[4, 0, 8, 0], 2));
    let file = TempFile::new("linear.svg");
    heatmap.write(&file.0).unwrap();
    let svg = read_svg(&file.0);
    // Slots 0..=2 and the overflow row; slot 3 is empty.
    assert_eq!(svg.cells.len(), 4);
    svg.assert_texts(&[
        "10 -> 14",
        "15 -> 19",
        "20 -> 24",
        ">= 30",
        "latency (nsecs)",
    ]);
}

#[test]
fn an_empty_run_writes_a_valid_file_with_a_note() {
    let mut heatmap = Heatmap::new(Layout::log2(MAX_SLOT), Unit::Microseconds, "idle".into());
    let file = TempFile::new("empty.svg");
    heatmap.write(&file.0).unwrap();
    let svg = read_svg(&file.0);
    assert!(svg.cells.is_empty());
    assert!(svg.texts.iter().any(|t| t == "idle"), "{:?}", svg.texts);
    assert!(svg.texts.iter().any(|t| t == "no interval was recorded"));

    heatmap.push(start(), &Histogram::new(MAX_SLOT));
    heatmap.push(start() + Duration::from_secs(1), &Histogram::new(MAX_SLOT));
    heatmap.write(&file.0).unwrap();
    let svg = read_svg(&file.0);
    assert!(svg.cells.is_empty());
    assert!(
        svg.texts
            .iter()
            .any(|t| t == "nothing was counted in 2 intervals")
    );

    let png = TempFile::new("empty.png");
    heatmap.write(&png.0).unwrap();
    let image = image::open(&png.0).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (svg.size.0 as u32, svg.size.1 as u32));
}

#[test]
fn other_extensions_are_refused_with_the_file_name() {
    for name in ["heatmap.jpg", "heatmap", "heatmap.svg.gz"] {
        let file = TempFile::new(name);
        let err = heatmap().write(&file.0).unwrap_err();
        assert!(matches!(&err, HeatmapError::Extension { path } if *path == file.0));
        let message = err.to_string();
        assert!(message.contains(&*file.0.to_string_lossy()), "{message}");
        assert!(
            message.contains(".svg") && message.contains(".png"),
            "{message}"
        );
        assert!(!file.0.exists(), "nothing written for {name}");
    }
}

#[test]
fn an_unwritable_path_is_an_error_naming_it() {
    let file = TempFile::new("no-such-dir");
    for ext in ["svg", "png"] {
        let path = file.0.join(format!("heatmap.{ext}"));
        let err = heatmap().write(&path).unwrap_err();
        assert!(matches!(&err, HeatmapError::Draw { .. }), "{err:?}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }
}

#[test]
fn a_long_run_of_many_buckets_keeps_every_cell_readable() {
    // 300 intervals of 1 s, log2 slots up to 58: a latency wandering from slot 5 to 50, with
    // overflow in one interval; 59 + 1 rows.
    let max_slot = 58;
    let mut heatmap = Heatmap::new(Layout::log2(max_slot), Unit::Nanoseconds, "long".into());
    for i in 0..300u64 {
        let mut hist = Histogram::new(max_slot);
        let centre = 5 + (i % 46) as u32;
        for (d, count) in [(0, 50 + i % 7), (1, 20), (2, 3)] {
            hist.add(centre + d, count);
            hist.add(centre.saturating_sub(d), count);
        }
        hist.add(if i == 150 { 58 } else { 0 }, 1);
        hist.add(max_slot + 1, u64::from(i == 299));
        heatmap.push(start() + Duration::from_secs(i), &hist);
    }
    let file = TempFile::new("long.svg");
    heatmap.write(&file.0).unwrap();
    let svg = read_svg(&file.0);
    assert_eq!(svg.cells.len(), 300 * 60);
    let grid = grid(&svg.cells, 300, 60);
    assert!(svg.cells.iter().all(|c| c.h >= 16 && c.w >= 1));
    // Every row is labelled; the time labels are spaced out (every 5th interval at most).
    assert!(
        svg.texts
            .iter()
            .any(|t| t == "288230376151711744 -> 576460752303423487")
    );
    let times: Vec<&String> = svg.texts.iter().filter(|t| t.starts_with('+')).collect();
    assert!((5..=60).contains(&times.len()), "{times:?}");
    assert!(svg.size.0 < 2000 && svg.size.1 < 1200, "{:?}", svg.size);
    // The hottest count is 2 × 56, in the centre slot (counted twice, for d = 0).
    assert_eq!(grid[299][59].fill, colour(1, 112));
    let png = TempFile::new("long.png");
    heatmap.write(&png.0).unwrap();
    let image = image::open(&png.0).unwrap().to_rgb8();
    let (x, y) = grid[150][58].centre();
    assert_eq!(image.get_pixel(x, y).0, grid[150][58].fill);
}

/// The legend's count labels, `(count, y)`, top first: the numbers written right of the plot.
fn legend_labels(path: &Path) -> Vec<(u64, f64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    let width: f64 = doc
        .root_element()
        .attribute("width")
        .unwrap()
        .parse()
        .unwrap();
    let at =
        |node: roxmltree::Node, name| -> f64 { node.attribute(name).unwrap().parse().unwrap() };
    let mut labels: Vec<(u64, f64)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text") && at(*n, "x") > width - 120.0)
        .filter_map(|n| Some((n.text()?.trim().parse().ok()?, at(n, "y"))))
        .collect();
    labels.sort_by(|a, b| a.1.total_cmp(&b.1));
    labels
}

#[test]
fn legend_labels_never_touch() {
    for rows in [1, 20] {
        for hottest in [
            2,
            9,
            10,
            11,
            12,
            99,
            120,
            1000,
            1640,
            1_234_567,
            1_000_000_000_005,
        ] {
            let mut hist = Histogram::new(MAX_SLOT);
            hist.add(3, hottest);
            for slot in 4..3 + rows {
                hist.add(slot, 1);
            }
            let mut heatmap = Heatmap::new(Layout::log2(MAX_SLOT), Unit::Microseconds, "l".into());
            heatmap.push(start(), &hist);
            let file = TempFile::new(&format!("legend-{rows}-{hottest}.svg"));
            heatmap.write(&file.0).unwrap();
            let labels = legend_labels(&file.0);
            // The hottest count on top, then powers of ten below it, downwards.
            assert_eq!(labels.first().map(|l| l.0), Some(hottest), "{labels:?}");
            assert!(labels.windows(2).all(|w| w[0].0 > w[1].0), "{labels:?}");
            let power_of_ten =
                |n: u64| std::iter::successors(Some(1u64), |p| p.checked_mul(10)).any(|p| p == n);
            assert!(labels[1..].iter().all(|l| power_of_ten(l.0)), "{labels:?}");
            // A label's height (15 px) and a little apart: 12 once had 10 17 px below it.
            for pair in labels.windows(2) {
                assert!(pair[1].1 - pair[0].1 >= 18.0, "{rows} rows: {labels:?}");
            }
            // The bar is tall enough for 1 to have its label.
            assert_eq!(labels.last().map(|l| l.0), Some(1), "{labels:?}");
        }
    }
}
