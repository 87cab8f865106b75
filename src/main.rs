use clap::{CommandFactory, Parser};

/// jemalloc keeps memory it has freed for reuse a while (`dirty_decay_ms`, 10 s) instead
/// of handing it back to the kernel at once. Streaming a large upload allocates and
/// frees network buffers at a high rate: with glibc's allocator each new buffer was
/// fresh pages to fault in and zero, a third of the CPU the upload's receive path used.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    let cli = match agentops::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Name the environment variable too: in containers that is where values come from.
            let hint = agentops::cli::env_hint(&agentops::cli::Cli::command(), &err);
            let _ = err.print();
            if let Some(hint) = hint {
                eprintln!("  (this setting is also read from the environment variable {hint})");
            }
            return std::process::ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(agentops::cli::run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
