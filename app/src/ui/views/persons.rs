//! A community's persons (or everyone's): search by name, ID or certificate number, filters
//! (not yet, done, returned, conflicts, unsent). ID numbers are masked.

use dioxus::prelude::*;
use doorstep_shared::domain::Review;
use doorstep_shared::lang::{Label, Lang};
use doorstep_shared::place::DivisionCode;

use crate::model::{Filter, PersonRow};
use crate::ui::i18n;
use crate::ui::{Screen, use_app};

/// How many rows pass each filter, in [`Filter::ALL`] order (from the unfiltered rows, with the
/// same rules as [`Filter::matches`]).
fn counts(rows: &[PersonRow]) -> [usize; 6] {
    let mut out = [0; 6];
    for (i, f) in Filter::ALL.iter().enumerate() {
        out[i] = rows
            .iter()
            .filter(|r| match f {
                Filter::NotYet => !r.done,
                Filter::Done => r.done,
                Filter::Returned => r.review == Review::Returned,
                Filter::Conflicts => r.conflicts > 0,
                Filter::Unsent => r.pending > 0 || r.rejected,
                Filter::All => true,
            })
            .count();
    }
    out
}

/// The person list.
#[component]
pub fn Persons(
    community: Option<DivisionCode>,
    title: String,
    filter: Filter,
    search: String,
) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let mut query = use_signal(|| search.clone());
    let mut chosen = use_signal(|| filter);
    let services = ctx.services.clone();
    let c = ctx.clone();
    let scope = community.clone();
    let rows = use_resource(move || {
        let q = query();
        let f = chosen();
        let _ = c.revision();
        let services = services.clone();
        let scope = scope.clone();
        async move {
            services
                .read(move |s| {
                    let all = s.persons(scope.as_ref(), Filter::All, &q)?;
                    let shown = if f == Filter::All {
                        all.clone()
                    } else {
                        s.persons(scope.as_ref(), f, &q)?
                    };
                    Ok((counts(&all), shown))
                })
                .await
        }
    });
    let loaded = rows.read().clone();
    let here = {
        let community = community.clone();
        let title = title.clone();
        move || Screen::Persons {
            community: community.clone(),
            title: title.clone(),
            filter: chosen(),
            search: query(),
        }
    };
    let list = match loaded {
        None => rsx! { p { class: "muted", "…" } },
        Some(Err(e)) => rsx! { p { class: "banner error", {i18n::error_text(lang, &e)} } },
        Some(Ok((n, shown))) => rsx! {
            div { class: "filters", role: "group",
                for (i, f) in Filter::ALL.into_iter().enumerate() {
                    button {
                        key: "{i18n::filter_key(f)}",
                        "aria-pressed": if chosen() == f { "true" } else { "false" },
                        "data-testid": "filter-{i18n::filter_key(f)}",
                        onclick: move |_| chosen.set(f),
                        "{i18n::filter_label(lang, f)} {n[i]}"
                    }
                }
            }
            if shown.is_empty() {
                p { class: "card muted", "data-testid": "no-match", {lang.t(i18n::NO_MATCH)} }
            } else {
                div { class: "list", "data-testid": "person-list",
                    for row in shown {
                        PersonLine {
                            key: "{row.person_id}",
                            on_open: {
                                let c = ctx.clone();
                                let here = here.clone();
                                let id = row.person_id;
                                move |()| c.go_from(here(), Screen::Person { id })
                            },
                            row,
                        }
                    }
                }
            }
        },
    };
    rsx! {
        input {
            r#type: "search",
            placeholder: lang.t(i18n::SEARCH),
            "aria-label": lang.t(i18n::SEARCH),
            value: "{query}",
            "data-testid": "search",
            oninput: move |e: FormEvent| query.set(e.value()),
        }
        {list}
    }
}

/// One row: name, masked ID, address, state.
#[component]
fn PersonLine(row: PersonRow, on_open: EventHandler<()>) -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let outcome = row.outcome.map(|o| o.label(lang));
    rsx! {
        button {
            class: "item-row",
            "data-testid": "person-{row.person_id}",
            onclick: move |_| on_open.call(()),
            div { class: "spread",
                span { class: "name", "{row.name}" }
                span { class: "muted", "{row.masked_id}" }
            }
            div { class: "muted", "{row.address}" }
            div {
                {badges(lang, &row, outcome)}
            }
        }
    }
}

fn badges(lang: Lang, row: &PersonRow, outcome: Option<&'static str>) -> Element {
    let state = if row.done {
        Some(("badge done", lang.t(i18n::DONE_BADGE)))
    } else if row.outcome.is_some() {
        Some(("badge", lang.t(i18n::DRAFT_BADGE)))
    } else {
        Some(("badge", lang.t(i18n::NOT_YET_BADGE)))
    };
    rsx! {
        if let Some((class, text)) = state {
            span { class, "{text}" }
        }
        if let Some(o) = outcome {
            span { class: "badge", "{o}" }
        }
        if row.review == Review::Returned {
            span { class: "badge returned", {lang.t(i18n::RETURNED_BADGE)} }
        }
        if row.conflicts > 0 {
            span { class: "badge conflict", {lang.t(i18n::CONFLICT_BADGE)} }
        }
        if row.pending > 0 {
            span { class: "badge unsent", {lang.t(i18n::UNSENT_BADGE)} }
        }
        if row.rejected {
            span { class: "badge rejected", {lang.t(i18n::REJECTED_BADGE)} }
        }
        if row.unsaved {
            span { class: "badge unsent", "data-testid": "unsaved-{row.person_id}", {lang.t(i18n::UNSAVED_BADGE)} }
        }
    }
}
