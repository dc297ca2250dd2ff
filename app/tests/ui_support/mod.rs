//! Drives the real UI headless: a `VirtualDom` of `ui::App` on real services and a real
//! encrypted store, real click and input events through the Dioxus runtime, and assertions on
//! the HTML that `dioxus-ssr` renders.
//!
//! Elements are found by their `data-testid` attribute: the harness walks the mounted VNode
//! tree, finds the element carrying that id and the listener for the event, and dispatches the
//! event to that element's `ElementId`, exactly as a renderer would.

#![allow(dead_code)]

use std::any::Any;
use std::collections::BTreeMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use dioxus::dioxus_core::{
    AttributeValue, DynamicNode, ElementId, Event, NoOpMutations, TemplateAttribute, TemplateNode,
    VNode, VirtualDom,
};
use dioxus::html::{
    PlatformEventData, SerializedFormData, SerializedHtmlEventConverter, SerializedMouseData,
};
use doorstep_app::ui::services::{Config, Services, store_path};
use doorstep_app::ui::{self};
use doorstep_app::{KdfParams, Store};
use doorstep_shared::carry;
use doorstep_shared::demo;
use doorstep_shared::domain::{Campaign, Outcome, Person, Review};
use doorstep_shared::form::FormDefinition;
use doorstep_shared::hlc::Hlc;
use doorstep_shared::place::DivisionCode;
use doorstep_shared::sync::{PROTOCOL_VERSION, PullResponse, RecordState};
use doorstep_shared::value::{Answers, Value};
use uuid::Uuid;

pub const PIN: &str = "135790";

/// Services for a data directory: fast key derivation, no background sync.
pub fn config(dir: &Path) -> Config {
    let mut c = Config::new(dir);
    c.kdf = KdfParams::insecure_fast_for_tests();
    c.kdf_target = None;
    c.auto_sync_every = None;
    c
}

/// The demo roster on a device: two communities of the demo district, pulled as one page.
pub struct Fixture {
    pub campaign: Campaign,
    pub communities: Vec<(DivisionCode, String)>,
    pub persons: Vec<Person>,
    /// A person whose record a supervisor returned, with this comment.
    pub returned: (Uuid, String),
    /// The reviewer's notes on items of the returned record: one on an item shown for its
    /// outcome, one on a questionnaire item (not shown: the outcome has no questionnaire).
    pub returned_notes: BTreeMap<String, String>,
    /// Persons already done (final outcome) on the server.
    pub done: Vec<Uuid>,
    /// A person carried from last year's campaign (index [`CARRIED`] of `persons`), not yet
    /// surveyed this year, with last year's answers of the carried items.
    pub carried: (Uuid, Answers),
}

/// The index in [`Fixture::persons`] of the person carried from last year.
pub const CARRIED: usize = 4;

fn final_answers(outcome: &str) -> Answers {
    let mut a = Answers::new();
    a.insert("outcome".into(), Value::text(outcome));
    a.insert("outcome_note".into(), Value::text("见社区登记"));
    a.insert("status".into(), Value::text("final"));
    a
}

/// Creates a store in `dir` holding two demo communities: three persons done (one of them
/// returned by a supervisor), everyone else not yet surveyed.
pub fn fixture_store(dir: &Path) -> (Store, Fixture) {
    let campaign = Campaign {
        id: Uuid::from_u128(0x2021),
        district: DivisionCode::parse("430503").unwrap(),
        district_name: "大祥区".into(),
        year: 2021,
        name: "2021年大祥区动态更新".into(),
        starts: NaiveDate::from_ymd_opt(2021, 3, 1).unwrap(),
        ends: NaiveDate::from_ymd_opt(2021, 6, 30).unwrap(),
        form_version: "2021.1".into(),
    };
    let d = demo::generate(7, campaign.id);
    let communities: Vec<(DivisionCode, String)> = d
        .communities
        .iter()
        .take(2)
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect();
    let persons: Vec<Person> = d
        .persons
        .iter()
        .filter(|p| communities.iter().any(|(c, _)| *c == p.community))
        .cloned()
        .collect();
    let comment = "电话号码有误，请核实后重新提交".to_string();
    let done = vec![persons[0].id, persons[1].id];
    let returned = (persons[2].id, comment.clone());
    let returned_notes: BTreeMap<String, String> = [
        ("outcome_note".to_string(), "请写明找人的经过".to_string()),
        ("income_level".to_string(), "请补填家庭收入".to_string()),
    ]
    .into();
    let form = FormDefinition::dynamic_update_2021();
    let last_year = demo::fill_questionnaire(
        &form,
        &persons[CARRIED],
        &campaign,
        Outcome::HomeVisit,
        &mut demo::SplitMix64::new(2020),
    );
    let carried = (persons[CARRIED].id, carry::carried(&form, &last_year));
    let records: Vec<RecordState> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (answers, review, review_comment) = match i {
                0 => (final_answers("moved"), Review::Pending, None),
                1 => (final_answers("away"), Review::Approved, None),
                2 => (
                    final_answers("not_found"),
                    Review::Returned,
                    Some(comment.clone()),
                ),
                _ => (Answers::new(), Review::Pending, None),
            };
            RecordState {
                person: p.shown(doorstep_shared::Numbers::Whole),
                version: 1,
                answers,
                review,
                review_comment,
                review_notes: if i == 2 {
                    returned_notes.clone()
                } else {
                    BTreeMap::new()
                },
                conflicts: BTreeMap::new(),
                seq: u64::try_from(i).unwrap() + 1,
                prior: (i == CARRIED).then(|| carried.1.clone()),
            }
        })
        .collect();
    let page = PullResponse {
        protocol: PROTOCOL_VERSION,
        cursor: u64::try_from(records.len()).unwrap(),
        records,
        removed: Vec::new(),
        more: false,
        scope: communities.iter().map(|(c, _)| c.clone()).collect(),
        community_names: communities.iter().cloned().collect(),
        campaign: campaign.clone(),
        server_time: Hlc::default(),
    };
    let store = Store::create(store_path(dir), PIN, KdfParams::insecure_fast_for_tests()).unwrap();
    store.apply_pull_page(&page.try_into().unwrap()).unwrap();
    store
        .set_form(&FormDefinition::dynamic_update_2021())
        .unwrap();
    store
        .set_community_names(&communities.iter().cloned().collect())
        .unwrap();
    (
        store,
        Fixture {
            campaign,
            communities,
            persons,
            returned,
            returned_notes,
            done,
            carried,
        },
    )
}

/// The UI in a `VirtualDom`.
pub struct Harness {
    pub dom: VirtualDom,
    pub services: Arc<Services>,
}

impl Harness {
    /// Builds the app on these services and renders it.
    pub async fn new(services: Arc<Services>) -> Self {
        dioxus::html::set_event_converter(Box::new(SerializedHtmlEventConverter));
        let mut dom = VirtualDom::new(ui::App).with_root_context(services.clone());
        dom.rebuild_in_place();
        let mut h = Self { dom, services };
        h.settle().await;
        h
    }

    /// The app on an unlocked store in `dir` filled by [`fixture_store`].
    pub async fn with_fixture(dir: &Path) -> (Self, Fixture) {
        let (store, fixture) = fixture_store(dir);
        let services = Services::new(config(dir));
        services.install_store(store);
        (Self::new(services).await, fixture)
    }

    /// The rendered HTML.
    pub fn html(&self) -> String {
        dioxus_ssr::render(&self.dom)
    }

    /// Runs queued work (spawned tasks, store calls) until nothing happens for a moment.
    pub async fn settle(&mut self) {
        while tokio::time::timeout(Duration::from_millis(60), self.dom.wait_for_work())
            .await
            .is_ok()
        {
            self.dom.render_immediate(&mut NoOpMutations);
        }
    }

    /// Runs work until the HTML satisfies `pred` (10 s at most), and returns it.
    pub async fn until(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.dom.render_immediate(&mut NoOpMutations);
            let html = self.html();
            if pred(&html) {
                return html;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the page is:\n{html}"
            );
            if tokio::time::timeout(Duration::from_millis(100), self.dom.wait_for_work())
                .await
                .is_ok()
            {
                self.dom.render_immediate(&mut NoOpMutations);
            }
        }
    }

    /// Waits until the HTML contains `text`.
    pub async fn until_contains(&mut self, text: &str) -> String {
        self.until(text, |h| h.contains(text)).await
    }

    /// Whether an element with this test id is on the page.
    pub fn has(&self, testid: &str) -> bool {
        self.html().contains(&format!("data-testid=\"{testid}\""))
    }

    /// The `ElementId` of the element with `data-testid` = `testid` that listens to `event`.
    pub fn find(&self, testid: &str, event: &str) -> Option<ElementId> {
        let root = self.dom.base_scope().root_node();
        find_in(&self.dom, root, testid, &format!("on{event}"))
    }

    fn fire(&mut self, testid: &str, event: &str, data: Box<dyn Any>) {
        let id = self.find(testid, event).unwrap_or_else(|| {
            panic!(
                "no element {testid:?} listening to {event}; the page is:\n{}",
                self.html()
            )
        });
        let ev = Event::new(Rc::new(PlatformEventData::new(data)) as Rc<dyn Any>, true);
        self.dom.runtime().handle_event(event, ev, id);
        self.dom.process_events();
        self.dom.render_immediate(&mut NoOpMutations);
    }

    /// Clicks an element and lets the app react.
    pub async fn click(&mut self, testid: &str) {
        self.fire(testid, "click", Box::new(SerializedMouseData::default()));
        self.settle().await;
    }

    /// Types a whole value into an input (one `input` event, as a browser sends for a paste).
    pub async fn input(&mut self, testid: &str, value: &str) {
        self.fire(
            testid,
            "input",
            Box::new(SerializedFormData::new(value.to_string(), vec![])),
        );
        self.settle().await;
    }

    /// Changes a checkbox or a select.
    pub async fn change(&mut self, testid: &str, value: &str) {
        self.fire(
            testid,
            "change",
            Box::new(SerializedFormData::new(value.to_string(), vec![])),
        );
        self.settle().await;
    }
}

fn attr_matches(node: &VNode, attrs: &[TemplateAttribute], testid: &str) -> bool {
    attrs.iter().any(|a| match a {
        TemplateAttribute::Static { name, value, .. } => *name == "data-testid" && *value == testid,
        TemplateAttribute::Dynamic { id } => node.dynamic_attrs[*id].iter().any(|at| {
            at.name == "data-testid" && matches!(&at.value, AttributeValue::Text(t) if t == testid)
        }),
    })
}

fn listener_of(
    node: &VNode,
    dom: &VirtualDom,
    attrs: &[TemplateAttribute],
    listener: &str,
) -> Option<ElementId> {
    attrs.iter().find_map(|a| match a {
        TemplateAttribute::Dynamic { id }
            if node.dynamic_attrs[*id].iter().any(|at| {
                at.name == listener && matches!(at.value, AttributeValue::Listener(_))
            }) =>
        {
            node.mounted_dynamic_attribute(*id, dom)
        }
        _ => None,
    })
}

fn find_in(dom: &VirtualDom, node: &VNode, testid: &str, listener: &str) -> Option<ElementId> {
    node.template
        .roots
        .iter()
        .find_map(|t| find_in_template(dom, node, t, testid, listener))
}

fn find_in_template(
    dom: &VirtualDom,
    node: &VNode,
    t: &TemplateNode,
    testid: &str,
    listener: &str,
) -> Option<ElementId> {
    match t {
        TemplateNode::Element {
            attrs, children, ..
        } => {
            if attr_matches(node, attrs, testid)
                && let Some(id) = listener_of(node, dom, attrs, listener)
            {
                return Some(id);
            }
            children
                .iter()
                .find_map(|c| find_in_template(dom, node, c, testid, listener))
        }
        TemplateNode::Text { .. } => None,
        TemplateNode::Dynamic { id } => match &node.dynamic_nodes[*id] {
            DynamicNode::Component(c) => {
                let scope = c.mounted_scope(*id, node, dom)?;
                find_in(dom, scope.root_node(), testid, listener)
            }
            DynamicNode::Fragment(nodes) => {
                nodes.iter().find_map(|n| find_in(dom, n, testid, listener))
            }
            DynamicNode::Text(_) | DynamicNode::Placeholder(_) => None,
        },
    }
}

/// Counts the occurrences of `needle`.
pub fn count(html: &str, needle: &str) -> usize {
    html.matches(needle).count()
}
