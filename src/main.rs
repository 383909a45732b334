//! The `simrun` binary: hands the command line to the library and exits with its code.

fn main() {
    // candle's matmul dispatches to rayon, whose pool costs a tiny model far
    // more than the matmul itself (docs/measurement.md has the figures), and
    // requests are already spread over the workers: one rayon thread, unless
    // the user chose otherwise.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let code = simrun::cli::main(std::env::args_os().collect());
    std::process::exit(code);
}
