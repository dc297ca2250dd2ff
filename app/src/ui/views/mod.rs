//! The screens.

mod home;
mod person;
mod persons;
mod sign_in;
mod supervisor;

pub use home::Home;
pub use person::PersonScreen;
pub use persons::Persons;
pub use sign_in::{SignIn, Unlock};
pub use supervisor::SupervisorProgress;
