//! `standin-vendor [--listen ADDR]`: the vendor stand-in as a process.
//!
//! For tests and benchmarks that are not Rust: start it, read the one line
//! `listening on http://ADDR` from stdout, point the gateway's vendor URLs at that
//! address, and read what it received from `GET /_standin/requests`. It serves until
//! killed. `ADDR` defaults to `127.0.0.1:0`, a free loopback port.

use standin_vendor::{Recorder, router};
use std::io::Write;
use std::process::ExitCode;
use tokio::net::TcpListener;

const USAGE: &str = "usage: standin-vendor [--listen ADDR]   (default 127.0.0.1:0)";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
enum Command {
    Serve { listen: String },
    Help,
}

#[tokio::main]
async fn main() -> ExitCode {
    let listen = match parse_args(std::env::args().skip(1)) {
        Ok(Command::Serve { listen }) => listen,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("standin-vendor: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let listener = match TcpListener::bind(&listen).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("standin-vendor: cannot listen on {listen}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let addr = match listener.local_addr() {
        Ok(addr) => addr,
        Err(error) => {
            eprintln!("standin-vendor: cannot read the bound address: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    if writeln!(stdout, "listening on http://{addr}")
        .and_then(|()| stdout.flush())
        .is_err()
    {
        eprintln!("standin-vendor: cannot write the address to stdout");
        return ExitCode::FAILURE;
    }
    drop(stdout);
    match axum::serve(listener, router(Recorder::new())).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("standin-vendor: server stopped: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Reads `--listen ADDR`, `--listen=ADDR` and `--help`; anything else is an error.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut listen = "127.0.0.1:0".to_owned();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--listen" => {
                listen = args.next().ok_or_else(|| {
                    "--listen needs an address, such as 127.0.0.1:8080".to_owned()
                })?;
            }
            _ => match arg.strip_prefix("--listen=") {
                Some(value) => listen = value.to_owned(),
                None => return Err(format!("unexpected argument {arg:?}")),
            },
        }
    }
    Ok(Command::Serve { listen })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn listen_defaults_to_a_free_loopback_port() {
        let expected = Command::Serve {
            listen: "127.0.0.1:0".to_owned(),
        };
        assert_eq!(parse(&[]), Ok(expected));
    }

    #[test]
    fn listen_takes_a_separate_or_joined_value() {
        let expected = Command::Serve {
            listen: "0.0.0.0:9000".to_owned(),
        };
        assert_eq!(parse(&["--listen", "0.0.0.0:9000"]), Ok(expected));
        let expected = Command::Serve {
            listen: "[::1]:1".to_owned(),
        };
        assert_eq!(parse(&["--listen=[::1]:1"]), Ok(expected));
    }

    #[test]
    fn rejects_missing_values_and_unknown_arguments() {
        assert!(parse(&["--listen"]).is_err());
        assert!(parse(&["--port", "1"]).is_err());
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
    }
}
