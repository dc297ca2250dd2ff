//! What differs between the platforms the app runs on: where its data lives.
//!
//! - Android: the app's private internal storage, `/data/data/<package>/files` (the package is
//!   the bundle identifier of `Dioxus.toml`, read from the running process), which other apps
//!   cannot read and which Android removes with the app;
//! - iOS: `Library/Application Support` in the app's sandbox (`$HOME` is the sandbox);
//! - desktop: the user's data directory (`~/.local/share/doorstep` on Linux).

use std::path::PathBuf;

/// The bundle identifier (`Dioxus.toml`), the Android package name.
pub const BUNDLE_ID: &str = "org.doorstep.survey";

/// Where the encrypted store lives on this platform.
#[must_use]
pub fn data_dir() -> PathBuf {
    #[cfg(target_os = "android")]
    {
        android_files_dir()
    }
    #[cfg(target_os = "ios")]
    {
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join("Library/Application Support/doorstep")
    }
    #[cfg(not(any(target_os = "android", target_os = "ios")))]
    {
        dirs::data_dir()
            .unwrap_or_else(|| PathBuf::from("."))
            .join("doorstep")
    }
}

/// The package's internal files directory: the package name is the process name
/// (`/proc/self/cmdline`), as Android starts every app process.
#[cfg(target_os = "android")]
fn android_files_dir() -> PathBuf {
    let package = std::fs::read("/proc/self/cmdline")
        .ok()
        .and_then(|b| {
            let name = b.split(|c| *c == 0).next()?.to_vec();
            String::from_utf8(name).ok()
        })
        .map(|n| n.split(':').next().unwrap_or_default().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| BUNDLE_ID.to_string());
    PathBuf::from("/data/data").join(package).join("files")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_desktop_data_dir_is_the_users() {
        let d = super::data_dir();
        assert!(d.ends_with("doorstep"), "{}", d.display());
    }
}
