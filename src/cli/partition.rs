//! `simrun partition`: an ONNX model's cut points, and with `--at` its head
//! and tail written to disk and held to the whole model's answers.

use std::path::PathBuf;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::failure::Failure;
use crate::exit_code::Outcome;
use crate::export::markdown::thousands;
use crate::partition::{self, Cut, Partition, Precision};

/// Inputs `--at` runs the written head and tail on, against the whole model.
const CHECK_INPUTS: usize = 16;

#[derive(Debug, clap::Args)]
pub struct PartitionArgs {
    /// The ONNX model (one input, one output).
    pub model: PathBuf,
    /// Write the head and tail of this cut (a tensor from the list) into --out.
    #[arg(long, value_name = "TENSOR", requires = "out")]
    pub at: Option<String>,
    /// Where --at writes `<model>.<cut>.head.onnx` and `.tail.onnx`.
    #[arg(long, value_name = "DIR", requires = "at")]
    pub out: Option<PathBuf>,
    /// Also show each cut's bytes as half precision (float16) on the wire.
    #[arg(long)]
    pub float16: bool,
}

pub fn partition(args: PartitionArgs) -> Result<Outcome, Failure> {
    let model = Partition::open(&args.model).map_err(Failure::input)?;
    match (&args.at, &args.out) {
        (Some(at), Some(out)) => write(&model, at, out),
        _ => {
            super::print_text(&table(&model, &args));
            Ok(Outcome::Passed)
        }
    }
}

/// Writes the cut's two models, then runs them from disk against the whole.
fn write(model: &Partition, at: &str, out: &std::path::Path) -> Result<Outcome, Failure> {
    let cut = model.cut(at).map_err(Failure::input)?;
    let (head, tail) = model.write(&cut.name, out).map_err(Failure::input)?;
    let load = |p: &std::path::Path| crate::backend::load(p).map_err(Failure::input);
    let (mut whole, mut h, mut t) = (load(model.path())?, load(&head)?, load(&tail)?);
    let width = whole.info().input_len();
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let inputs: Vec<f32> = (0..CHECK_INPUTS * width).map(|_| rng.gen_range(-1.0f32..1.0)).collect();
    let difference =
        partition::divergence(whole.as_mut(), (h.as_mut(), t.as_mut()), &inputs).map_err(Failure::input)?;
    super::print_text(&format!(
        "head: {}\ntail: {}\nhead then tail against the whole model on {CHECK_INPUTS} random inputs: largest difference {difference:.2e}\n",
        head.display(),
        tail.display()
    ));
    Ok(Outcome::Passed)
}

/// The cut points as a table, `input` first and `output` last.
fn table(model: &Partition, args: &PartitionArgs) -> String {
    let cuts = model.cuts();
    let (first, last) = (&cuts[0], &cuts[cuts.len() - 1]);
    let mut out = format!(
        "{}: `{}` [{}] to `{}` [{}], {} multiply-adds, {} parameters; {} cuts between input and output\n\n",
        args.model.display(),
        model.input(),
        dims(first),
        model.output(),
        dims(last),
        thousands(model.macs),
        thousands(model.params),
        cuts.len() - 2
    );
    let half = if args.float16 { " float16 bytes |" } else { "" };
    out += &format!("| cut | shape | float32 bytes |{half} vs input | head multiply-adds | head parameters |\n");
    out += &format!("|---|---|--:|{}--:|--:|--:|\n", if args.float16 { "--:|" } else { "" });
    let share = |part: u64, whole: u64| {
        if whole == 0 {
            "–".into()
        } else {
            format!("{:.1} %", 100.0 * part as f64 / whole as f64)
        }
    };
    for cut in cuts {
        let name = match cut.name.as_str() {
            partition::INPUT => "input (all in the cloud)".to_string(),
            partition::OUTPUT => "output (all on the edge)".to_string(),
            n => format!("`{n}`"),
        };
        let bytes = |p: Precision| thousands((cut.values() * p.bytes()) as u64);
        let half = if args.float16 { format!(" {} |", bytes(Precision::Float16)) } else { String::new() };
        let ratio = cut.values() as f64 / first.values().max(1) as f64;
        out += &format!(
            "| {name} | {} | {} |{half} {ratio:.3}× | {} | {} |\n",
            dims(cut),
            bytes(Precision::Float32),
            share(cut.head_macs, model.macs),
            share(cut.head_params, model.params)
        );
    }
    out += "\nThe head runs everything up to the cut on the edge, the tail the rest in the cloud; a tensor inside a \
            residual block or between parallel branches is no cut. `simrun partition MODEL --at TENSOR --out DIR` \
            writes the two models.\n";
    out
}

fn dims(cut: &Cut) -> String {
    cut.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×")
}
