//! A scripted walk through the app in its own window, for the native-renderer test: the same
//! steps a worker takes (type, tap, wait for what the screen shows), run as JavaScript events
//! inside the webview, so every event goes through the native renderer's IPC into the app and
//! every change comes back as DOM edits, exactly as on a phone. Only the desktop build wires it
//! in (`doorstep --drive steps.json`); `scripts/native-test.sh` runs it under Xvfb.
//!
//! A script is a JSON list of steps:
//! `{"fill": "[data-testid=username]", "value": "w001"}`, `{"click": "[data-testid=next]"}`,
//! `{"wait": "[data-testid=community-430503001001]"}`, `{"wait_text": ["[data-testid=unsent-count]", "0"]}`,
//! `{"screenshot": "artifacts/screenshots/native.png"}` (the whole X display, with ImageMagick's
//! `import`). Each step waits up to 30 s for its element. The walk prints `drive: N ok …` per step
//! and ends the process: status 0 when every step passed, 1 at the first that did not.

use std::path::PathBuf;
use std::time::Duration;

use dioxus::prelude::*;
use serde::Deserialize;

/// One step of a walk.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Step {
    /// Type `value` into the input matching the selector (as a worker types: an `input` event).
    Fill { fill: String, value: String },
    /// Tap the element.
    Click { click: String },
    /// Wait until the element is shown.
    Wait { wait: String },
    /// Wait until the element's text contains the given text.
    WaitText { wait_text: (String, String) },
    /// Capture the X display into a PNG file.
    Screenshot { screenshot: PathBuf },
}

/// Reads a walk from a JSON file.
///
/// # Errors
/// The file cannot be read or is not a list of steps.
pub fn load(path: &std::path::Path) -> anyhow::Result<Vec<Step>> {
    let text = std::fs::read_to_string(path)?;
    Ok(serde_json::from_str(&text)?)
}

fn js_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// The JavaScript of one step: waits for the element, acts, returns `"ok"` or what went wrong.
fn script(step: &Step) -> Option<String> {
    let wait_for = |sel: &str, cond: &str| {
        format!(
            r"const sel = {sel};
const until = Date.now() + 30000;
let el = null;
while (Date.now() < until) {{
  el = document.querySelector(sel);
  if (el && ({cond})) break;
  el = null;
  await new Promise((r) => setTimeout(r, 100));
}}
if (!el) return 'not found: ' + sel;",
            sel = js_string(sel),
        )
    };
    Some(match step {
        Step::Fill { fill, value } => format!(
            r"{}
el.focus();
el.value = {};
el.dispatchEvent(new Event('input', {{ bubbles: true }}));
return 'ok';",
            wait_for(fill, "!el.disabled"),
            js_string(value)
        ),
        Step::Click { click } => format!(
            "{}\nel.scrollIntoView({{block: 'center'}});\nel.click();\nreturn 'ok';",
            wait_for(click, "!el.disabled")
        ),
        Step::Wait { wait } => format!("{}\nreturn 'ok';", wait_for(wait, "true")),
        Step::WaitText {
            wait_text: (sel, text),
        } => format!(
            "{}\nreturn 'ok';",
            wait_for(
                sel,
                &format!("el.textContent.includes({})", js_string(text))
            )
        ),
        Step::Screenshot { .. } => return None,
    })
}

fn screenshot(path: &std::path::Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    }
    let status = std::process::Command::new("import")
        .args(["-window", "root"])
        .arg(path)
        .status()
        .map_err(|e| format!("import: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("import exited with {status}"))
    }
}

/// Runs one step's script; an evaluation the renderer dropped while the screen changed under
/// it is run again (the steps are idempotent: they wait for their element first).
async fn eval_step(js: &str) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..3 {
        match document::eval(js).join::<String>().await {
            Ok(s) if s == "ok" => return Ok(()),
            Ok(s) => return Err(s),
            Err(e) => last = format!("{e}"),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(last)
}

/// Runs the walk in this window, then ends the process.
pub async fn run(steps: Vec<Step>) {
    // Let the window load its page first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (i, step) in steps.iter().enumerate() {
        let result = match (step, script(step)) {
            (Step::Screenshot { screenshot: path }, _) => {
                // Give the webview a moment to paint the last change.
                tokio::time::sleep(Duration::from_millis(800)).await;
                screenshot(path)
            }
            (_, Some(js)) => eval_step(&js).await,
            (_, None) => Ok(()),
        };
        match result {
            Ok(()) => println!("drive: {} ok {step:?}", i + 1),
            Err(e) => {
                println!("drive: {} FAILED {step:?}: {e}", i + 1);
                let _ = screenshot(std::path::Path::new(
                    "artifacts/screenshots/native-failed.png",
                ));
                std::process::exit(1);
            }
        }
    }
    println!("drive: done");
    std::process::exit(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_native_walk_parses() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/native/walk.json");
        let steps = load(&path).unwrap();
        assert!(steps.len() > 5);
        assert!(steps.iter().any(|s| matches!(s, Step::Screenshot { .. })));
        for s in &steps {
            if !matches!(s, Step::Screenshot { .. }) {
                assert!(script(s).unwrap().contains("return 'ok'"));
            }
        }
    }
}
