//! The seven outcomes as big buttons: the first thing a worker records about a person.

use dioxus::prelude::*;
use doorstep_shared::domain::Outcome;
use doorstep_shared::lang::Label;

use crate::ui::use_app;

/// The outcome buttons; the two that carry the questionnaire come first, in green.
#[component]
pub fn OutcomePicker(selected: Option<Outcome>, on_pick: EventHandler<Outcome>) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    rsx! {
        div { class: "choices outcomes", role: "group",
            for o in Outcome::ALL {
                button {
                    key: "{o.key()}",
                    class: if o.has_questionnaire() { "choice survey" } else { "choice" },
                    "aria-pressed": if selected == Some(o) { "true" } else { "false" },
                    "data-testid": "outcome-{o.key()}",
                    onclick: move |_| on_pick.call(o),
                    {o.label(lang)}
                }
            }
        }
    }
}
