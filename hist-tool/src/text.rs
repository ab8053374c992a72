//! bcc's text for one interval: a function of the report and how the tool shows it, nothing
//! else (the clock's reading comes in as the timestamp line).

use hist_core::Layout;
use hist_user::{Report, percentile, percentile::Percentiles, render};

/// What a tool's flags and view add to the histograms' text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TextStyle {
    /// `--percentiles`: p50, p90, p99, p99.9 and the highest bucket after each histogram.
    pub percentiles: bool,
    /// bcc's `-e`: `avg = …, total: …, count: …` after each histogram that has a sum.
    pub averages: bool,
    /// libbpf-tools' fsdist: the section's value in quotes, `operation = 'read'`.
    pub quoted_sections: bool,
}

/// One interval: a blank line, the `timestamp` line if any, the histograms of `report` under
/// their section headers (with `per_cpu`, those of each CPU under `cpu = N` instead), then the
/// drops line when events were dropped.
pub fn interval_text(
    report: &Report,
    per_cpu: Option<&[(u32, Report)]>,
    timestamp: Option<&str>,
    style: TextStyle,
) -> String {
    let mut out = String::from("\n");
    if let Some(line) = timestamp {
        out.push_str(line);
        out.push('\n');
    }
    match per_cpu {
        None => out.push_str(&histograms_text(report, style)),
        Some(parts) => {
            for (cpu, part) in parts {
                out.push_str(&format!("\ncpu = {cpu}\n"));
                out.push_str(&histograms_text(part, style));
            }
        }
    }
    if report.drops.total() > 0 {
        out.push_str(&format!("{}\n", report.drops));
    }
    out
}

/// The histograms of `report` in bcc's text, each under `\n{section} = {label}` when the report
/// has sections.
pub fn histograms_text(report: &Report, style: TextStyle) -> String {
    let mut out = String::new();
    let unit = report.unit;
    let label = unit.label();
    for (section, hist, sum) in &report.histograms {
        if let Some(header) = &report.section {
            let quote = if style.quoted_sections { "'" } else { "" };
            out.push_str(&format!("\n{header} = {quote}{section}{quote}\n"));
        }
        out.push_str(&match report.layout {
            Layout::Log2(_) => render::log2_hist(hist, unit),
            Layout::Linear(linear) => render::linear_hist(hist, unit, &linear),
            Layout::LogLinear(log_linear) => render::log_linear_hist(hist, unit, &log_linear),
        });
        let percentiles = style
            .percentiles
            .then(|| Percentiles::new(hist, report.layout, &percentile::STANDARD))
            .flatten();
        if let Some(percentiles) = percentiles {
            out.push('\n');
            out.push_str(&percentiles.render(unit));
        }
        if let (true, Some(total), count @ 1..) = (style.averages, sum, hist.total()) {
            out.push_str(&format!(
                "\navg = {} {label}, total: {total} {label}, count: {count}\n\n",
                total / count
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use hist_core::Unit;
    use hist_user::{Drops, Histogram};

    use super::*;

    fn report(section: Option<&str>, histograms: Vec<(&str, Histogram, Option<u64>)>) -> Report {
        Report {
            tool: "nfsdist".into(),
            layout: Layout::log2(26),
            unit: Unit::Microseconds,
            section: section.map(str::to_owned),
            histograms: histograms
                .into_iter()
                .map(|(label, hist, sum)| (label.to_owned(), hist, sum))
                .collect(),
            drops: Drops::NONE,
            time: SystemTime::UNIX_EPOCH,
        }
    }

    fn hist(counts: &[(u32, u64)]) -> Histogram {
        let mut hist = Histogram::new(26);
        for &(slot, count) in counts {
            hist.add(slot, count);
        }
        hist
    }

    #[test]
    fn sections_follow_the_timestamp_as_bcc_prints_them() {
        let report = report(
            Some("operation"),
            vec![
                ("read", hist(&[(1, 2), (2, 4)]), None),
                ("write", hist(&[(0, 1)]), None),
            ],
        );
        let text = interval_text(&report, None, Some("12:00:01:"), TextStyle::default());
        assert_eq!(
            text,
            "\n12:00:01:\n\
             \noperation = read\n\
             \x20    usecs               : count     distribution\n\
             \x20        0 -> 1          : 0        |                                        |\n\
             \x20        2 -> 3          : 2        |********************                    |\n\
             \x20        4 -> 7          : 4        |****************************************|\n\
             \noperation = write\n\
             \x20    usecs               : count     distribution\n\
             \x20        0 -> 1          : 1        |****************************************|\n"
        );
    }

    #[test]
    fn quoted_sections_are_libbpf_tools_fsdist_s() {
        let report = report(Some("operation"), vec![("open", hist(&[(0, 1)]), None)]);
        let style = TextStyle {
            quoted_sections: true,
            ..TextStyle::default()
        };
        let text = interval_text(&report, None, None, style);
        assert!(text.starts_with("\n\noperation = 'open'\n"), "{text}");
    }

    #[test]
    fn a_single_histogram_has_no_header_and_averages_use_the_sum() {
        let summed = report(None, vec![("", hist(&[(3, 4)]), Some(40))]);
        let style = TextStyle {
            averages: true,
            ..TextStyle::default()
        };
        let text = interval_text(&summed, None, None, style);
        assert!(text.starts_with("\n     usecs"), "{text:?}");
        assert_eq!(text.matches(" = ").count(), 1, "only avg: {text:?}");
        assert!(
            text.ends_with("\navg = 10 usecs, total: 40 usecs, count: 4\n\n"),
            "{text:?}"
        );
        // Without a sum there is nothing to average.
        let unsummed = report(None, vec![("", hist(&[(3, 4)]), None)]);
        assert!(!interval_text(&unsummed, None, None, style).contains("avg"));
    }

    #[test]
    fn per_cpu_parts_and_drops_and_percentiles() {
        let mut all = report(None, vec![("", hist(&[(2, 3)]), None)]);
        all.drops = Drops::from([2, 0, 0]);
        let parts = vec![
            (0, report(None, vec![("", hist(&[(2, 1)]), None)])),
            (1, report(None, vec![("", hist(&[(2, 2)]), None)])),
        ];
        let text = interval_text(&all, Some(&parts), None, TextStyle::default());
        let cpu0 = text.find("\ncpu = 0\n").expect("cpu 0");
        let cpu1 = text.find("\ncpu = 1\n").expect("cpu 1");
        assert!(cpu0 < cpu1, "{text}");
        assert!(text.ends_with(&format!("{}\n", all.drops)), "{text}");
        assert!(text.contains("2 events not counted"), "{text}");

        let style = TextStyle {
            percentiles: true,
            ..TextStyle::default()
        };
        let text = histograms_text(&report(None, vec![("", hist(&[(2, 3)]), None)]), style);
        assert!(text.contains("p50 = "), "{text}");
        assert!(text.contains("[4, 7]"), "{text}");
    }
}
