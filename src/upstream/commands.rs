//! `upstream init` and `upstream list`: writing the default settings.json and showing the
//! templates a settings file holds, with the official emulator's messages.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use super::env_settings::EnvSettings;
use super::settings::{self, DEFAULT_SETTINGS};
use crate::config::{DEFAULT_SETTINGS_FILE, resolve_settings_file};

/// Writes the default settings to `<dir>/settings.json` (default: the current directory). An
/// existing file is replaced with `force`, or after a `y` when stdin is a terminal; a script
/// (stdin not a terminal) gets an error instead of a prompt it cannot answer.
pub fn init(dir: Option<&Path>, force: bool) -> Result<(), String> {
    let file = absolute(&match dir {
        Some(dir) => dir.join(DEFAULT_SETTINGS_FILE),
        None => PathBuf::from(DEFAULT_SETTINGS_FILE),
    });
    if file.exists() && !force {
        if !std::io::stdin().is_terminal() {
            return Err(format!(
                "'{}' already exists; add --force to overwrite it with the default settings.",
                file.display()
            ));
        }
        println!(
            "Already contains '{}', still want to override it with the default one? (N/y)",
            file.display()
        );
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|err| format!("cannot read the answer: {err}"))?;
        if !answer.trim().eq_ignore_ascii_case("y") {
            return Ok(());
        }
    }
    if let Some(parent) = file.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|err| format!("cannot create '{}': {err}", parent.display()))?;
    }
    std::fs::write(&file, DEFAULT_SETTINGS)
        .map_err(|err| format!("cannot write '{}': {err}", file.display()))?;
    println!("Exported default settings to '{}'.", file.display());
    Ok(())
}

/// Prints the templates of `config` (a file, or a folder holding settings.json; default
/// ./settings.json).
pub fn list(config: Option<&Path>) -> Result<(), String> {
    let env = EnvSettings::from_vars(std::env::vars());
    let file = match config {
        Some(path) => absolute(&resolve_settings_file(path).map_err(|err| err.to_string())?),
        None => {
            let file = absolute(Path::new(DEFAULT_SETTINGS_FILE));
            if !file.is_file() {
                println!("No settings file at '{}'.", file.display());
                println!("{}", settings::describe(&settings::from_env(&env)?));
                return Ok(());
            }
            file
        }
    };
    let (templates, _) = settings::load(&file, &env).map_err(|err| err.to_string())?;
    println!("Loaded upstream settings from '{}'", file.display());
    println!("{}", settings::describe(&templates));
    Ok(())
}

/// `path` made absolute for messages, as the official emulator prints full paths.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}
