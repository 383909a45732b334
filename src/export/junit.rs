//! `--junit FILE`: one JUnit test case per (sweep point, SLO, tier), so that a
//! CI system shows which objective failed where.

use quick_junit::{NonSuccessKind, TestCase, TestCaseStatus, TestSuite};

use crate::plan::params_label;
use crate::report::Report;

/// The JUnit XML of the report's SLO checks.
pub fn junit_xml(report: &Report) -> Result<Vec<u8>, quick_junit::SerializeError> {
    let m = &report.manifest;
    let mut suite = TestSuite::new(format!("simrun.{}", m.scenario));
    for check in report.slo_checks() {
        let slo = &report.slos[check.slo];
        let label = report.points.iter().find(|p| p.index == check.point).map(|p| params_label(&p.params));
        let name = format!("p{} {}: {} {}", check.point, label.unwrap_or_default(), check.tier, slo.objective());
        let status = if check.passed {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            let measured =
                check.measured.map_or("nothing (no successful request)".to_string(), |v| slo.metric.format(v));
            s.set_message(format!("measured {measured}, allowed {} {}", slo.operator(), slo.metric.format(slo.limit)));
            s.set_type("slo");
            s
        };
        let mut case = TestCase::new(name, status);
        case.set_classname(format!("simrun.{}.{}", m.scenario, check.tier));
        suite.add_test_case(case);
    }
    let mut out = quick_junit::Report::new(format!("simrun {}", m.run_id));
    out.add_test_suite(suite);
    Ok(out.to_string()?.into_bytes())
}
