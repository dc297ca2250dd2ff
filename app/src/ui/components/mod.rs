//! Widgets shared by the screens.

mod bars;
pub mod geo;
mod item_field;
mod outcome_picker;
mod sync_panel;

pub use bars::{Notice, ProgressBar, TopBar};
pub use item_field::{CheckWarning, ItemField, ItemWarning, ReviewNote, value_label};
pub use outcome_picker::OutcomePicker;
pub use sync_panel::SyncPanel;
