//! `mimi-conformance decode`: renders a captured MIMI body (any protocol message, or MIMI
//! content) as the same YAML that transcripts and snapshots use. Its output is the product, so
//! it goes to stdout (this subcommand never runs under a test runner).

use crate::exit;
use base64::Engine;
use mimi_wire::codec::Draft;
use mimi_wire::content::ContentDraft;
use mimi_wire::registry::{decode_as_draft, message_names, CONTENT};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Encoding {
    /// Hex if the input is only hex digits, else base64 if it is only base64, else binary.
    Auto,
    Hex,
    Base64,
    Binary,
}

#[derive(clap::Args)]
pub struct DecodeArgs {
    /// The file to decode; `-` or nothing reads standard input.
    pub file: Option<PathBuf>,
    /// The message type (e.g. KeyMaterialResponse, FanoutMessage, MimiContent); guessed if not given.
    #[arg(long = "type", value_name = "NAME")]
    pub message_type: Option<String>,
    #[arg(long, value_enum, default_value_t = Encoding::Auto)]
    pub input: Encoding,
    /// The protocol draft revision: 04, 05 or 06.
    #[arg(long, default_value = "06")]
    pub draft: Draft,
    /// The content draft revision whose message-ID algorithm to use: 07 or 08.
    #[arg(long, default_value = "08")]
    pub content_draft: ContentDraft,
}

fn read_input(args: &DecodeArgs) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    match args.file.as_ref().filter(|f| f.as_os_str() != "-") {
        Some(path) => raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?,
        None => {
            std::io::stdin()
                .read_to_end(&mut raw)
                .map_err(|e| format!("standard input: {e}"))?;
        }
    }
    let text = std::str::from_utf8(&raw)
        .ok()
        .map(|t| t.split_whitespace().collect::<String>());
    let is_hex = |t: &str| {
        !t.is_empty() && t.len().is_multiple_of(2) && t.bytes().all(|b| b.is_ascii_hexdigit())
    };
    let is_base64 = |t: &str| {
        !t.is_empty()
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=-_".contains(&b))
    };
    let hex = |t: &str| hex::decode(t).map_err(|e| format!("not hex: {e}"));
    let base64 = |t: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(t)
            .or_else(|_| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t.trim_end_matches('='))
            })
            .map_err(|e| format!("not base64: {e}"))
    };
    match (args.input, text.as_deref()) {
        (Encoding::Binary, _) => Ok(raw),
        (Encoding::Hex, Some(t)) => hex(t),
        (Encoding::Base64, Some(t)) => base64(t),
        (Encoding::Hex | Encoding::Base64, None) => Err("the input is not text".into()),
        (Encoding::Auto, Some(t)) if is_hex(t) => hex(t),
        (Encoding::Auto, Some(t)) if is_base64(t) => base64(t),
        (Encoding::Auto, _) => Ok(raw),
    }
}

#[expect(
    clippy::print_stdout,
    reason = "the rendering is this command's product"
)]
pub fn run(args: &DecodeArgs) -> ExitCode {
    let bytes = match read_input(args) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::code(exit::INVALID);
        }
    };
    let decode = |name: &str| decode_as_draft(name, &bytes, args.draft, args.content_draft);
    let (name, value) = match &args.message_type {
        Some(name) => {
            if !message_names().contains(&name.as_str()) {
                eprintln!(
                    "error: unknown type {name:?}; known: {}",
                    message_names().join(", ")
                );
                return exit::code(exit::INVALID);
            }
            match decode(name) {
                Ok(v) => (name.clone(), v),
                Err(e) => {
                    eprintln!("error: {e}");
                    return exit::code(exit::INVALID);
                }
            }
        }
        None => {
            let fits: Vec<(&str, serde_json::Value)> = message_names()
                .into_iter()
                .filter_map(|n| decode(n).ok().map(|v| (n, v)))
                .collect();
            let Some((name, value)) = fits.first().cloned() else {
                eprintln!(
                    "error: {} bytes decode as none of the known types; name one with --type to see where it fails",
                    bytes.len()
                );
                return exit::code(exit::INVALID);
            };
            if fits.len() > 1 {
                let others: Vec<&str> = fits[1..].iter().map(|(n, _)| *n).collect();
                eprintln!(
                    "guessed {name}; the bytes also decode as {} (choose with --type)",
                    others.join(", ")
                );
            }
            (name.to_string(), value)
        }
    };
    let mut out = format!("{name}:\n");
    for line in crate::report::console::render_body(&value).lines() {
        out.push_str(&format!("  {line}\n"));
    }
    if name == CONTENT {
        out.push_str("diagnostic: |\n");
        for line in mimi_wire::content::diagnostic(&bytes).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    print!("{out}");
    exit::code(exit::PASSED)
}
