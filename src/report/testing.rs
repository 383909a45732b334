//! A hand-built report for unit tests of the report's facts and exporters.

use super::{Execution, HostInfo, Manifest, PointRow, Report};
use crate::record::Unmatched;
use crate::stats::Summary;

/// A finished report of `summaries` over points swept on the cloud link.
pub fn test_report(repetitions: u32, latencies: &[&str], summaries: Vec<Summary>) -> Report {
    let key = "tiers.cloud.link.latency".to_string();
    let points: Vec<PointRow> = latencies
        .iter()
        .enumerate()
        .map(|(index, l)| PointRow { index, params: vec![(key.clone(), l.to_string())] })
        .collect();
    let manifest = Manifest {
        simrun_version: "0".into(),
        git_commit: "test".into(),
        run_id: "run".into(),
        scenario: "test".into(),
        scenario_file: "test.yaml".into(),
        command: "simrun run test.yaml".into(),
        seed: 1,
        repetitions,
        host: HostInfo {
            hostname: "host".into(),
            os: "os".into(),
            kernel: "k".into(),
            arch: "x86_64".into(),
            cpu: "cpu".into(),
            cores: 2,
        },
        broker_url: "mqtt://127.0.0.1:1883".into(),
        broker_version: None,
        broker_managed: false,
        onnxruntime_version: "1".into(),
        onnxruntime_library: "lib".into(),
        ort_crate_version: "2".into(),
        candle_version: "0".into(),
        rumqttc_version: "0".into(),
        rayon_num_threads: None,
        compute: Vec::new(),
        models: vec![],
        input: None,
        started_at: "then".into(),
        finished_at: Some("now".into()),
        wall_time_s: Some(1.0),
        floor: Default::default(),
        scheduled_time_s: 1.0,
        reuse: None,
        shard: None,
        interruptions: vec![],
        merged_from: vec![],
        remote_workers: vec![],
    };
    let executions = points.len() * repetitions as usize;
    let mut report = Report {
        manifest,
        group_summaries: Vec::new(),
        loads: Vec::new(),
        description: String::new(),
        swept_keys: vec![key],
        finished: (0..repetitions)
            .flat_map(|r| (0..points.len()).map(move |p| Execution { point: p, repetition: r }))
            .collect(),
        points,
        summaries,
        aggregates: vec![],
        crossovers: vec![],
        links: vec![],
        parity: None,
        warnings: vec![],
        executions_planned: executions,
        unmatched: Unmatched::default(),
        floor: None,
        slos: vec![],
        shard: None,
        plan_points: latencies.len(),
        stopped: None,
        tiers: vec![],
        device_hosts: vec![],
        costing: None,
        split_check: None,
        host_load: Vec::new(),
    };
    report.summaries_changed();
    report
}
