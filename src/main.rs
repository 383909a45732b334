//! The `simrun` binary: hands the command line to the library and exits with its code.

fn main() {
    // candle's matmul dispatches to rayon, which costs ~35 µs per tiny forward
    // pass against ~2 µs on one thread. Workers already run one per thread, so
    // default to one rayon thread unless the user chose otherwise.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let code = simrun::cli::main(std::env::args_os().collect());
    std::process::exit(code);
}
