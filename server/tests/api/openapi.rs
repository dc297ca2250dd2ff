//! The OpenAPI document against what the server really sends: each JSON answer here is
//! validated (with `jsonschema`, formats included) against the schema `/api/openapi.json` gives
//! its operation, every object closed (a field the schema does not name fails). The form first:
//! its JSON goes through hand-made serde shapes (item kinds, official codes, conditions).

use doorstep_server::http::openapi::{BODIES, Body, document};
use doorstep_server::testing::Backend;
use doorstep_shared::Value;
use doorstep_shared::domain::Outcome;
use doorstep_shared::form::{Condition, FormDefinition};
use doorstep_shared::ids::{Category, Level};
use serde_json::{Value as Json, json};

use crate::both;
use crate::helpers::{Api, Session, spawn, survey};

/// Every object schema that names its properties is closed: `additionalProperties: false`,
/// or `unevaluatedProperties: false` on an `allOf` (a flattened struct); the schemas an
/// `allOf` is made of stay open, or the composition would refuse its own fields.
fn close(schema: &mut Json) {
    match schema {
        Json::Object(o) => {
            if o.contains_key("allOf") {
                o.entry("unevaluatedProperties").or_insert(json!(false));
            } else if o.contains_key("properties") {
                o.entry("additionalProperties").or_insert(json!(false));
            }
            for (k, v) in o.iter_mut() {
                match (k.as_str(), v) {
                    // The parts of an `allOf` stay open; what is inside them is closed.
                    ("allOf", Json::Array(all)) => {
                        for part in all.iter_mut().filter_map(Json::as_object_mut) {
                            part.values_mut().for_each(close);
                        }
                    }
                    (_, v) => close(v),
                }
            }
        }
        Json::Array(a) => a.iter_mut().for_each(close),
        _ => {}
    }
}

/// The component schemas referred to straight from an `allOf`.
fn all_of_parts(doc: &Json) -> Vec<String> {
    let mut parts = Vec::new();
    fn walk(v: &Json, parts: &mut Vec<String>) {
        match v {
            Json::Object(o) => {
                if let Some(all) = o.get("allOf").and_then(Json::as_array) {
                    for r in all.iter().filter_map(|p| p["$ref"].as_str()) {
                        parts.push(r.trim_start_matches("#/components/schemas/").to_string());
                    }
                }
                o.values().for_each(|v| walk(v, parts));
            }
            Json::Array(a) => a.iter().for_each(|v| walk(v, parts)),
            _ => {}
        }
    }
    walk(doc, &mut parts);
    parts
}

/// A validator of `schema` with the document's components beside it (so that
/// `#/components/schemas/…` resolves), objects closed.
fn validator(doc: &Json, schema: &Json) -> jsonschema::Validator {
    let parts = all_of_parts(doc);
    let mut components = doc["components"].clone();
    for (name, s) in components["schemas"].as_object_mut().unwrap() {
        if !parts.contains(name) {
            close(s);
        }
    }
    let mut root = schema.clone();
    close(&mut root);
    root["components"] = components;
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&root)
        .unwrap()
}

fn errors(v: &jsonschema::Validator, value: &Json) -> Vec<String> {
    v.iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The schema of an operation's JSON success answer.
fn answer(doc: &Json, method: &str, path: &str) -> Json {
    let responses = doc["paths"][path][method]["responses"].as_object().unwrap();
    let (_, ok) = responses
        .iter()
        .find(|(code, _)| code.starts_with('2'))
        .unwrap();
    let schema = ok["content"]["application/json"]["schema"].clone();
    assert!(
        schema.is_object(),
        "{method} {path}: no JSON answer documented"
    );
    schema
}

fn named(name: &str) -> Json {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

#[track_caller]
fn conforms(doc: &Json, method: &str, path: &str, value: &Json) {
    let v = validator(doc, &answer(doc, method, path));
    let e = errors(&v, value);
    assert!(e.is_empty(), "{method} {path} breaks its schema: {e:#?}");
}

#[test]
fn openapi_describes_the_form_exactly() {
    let doc = document();
    let v = validator(&doc, &named("FormDefinition"));
    for form in [
        FormDefinition::dynamic_update_2021(),
        FormDefinition::newest(),
    ] {
        let json = serde_json::to_value(&form).unwrap();
        let e = errors(&v, &json);
        assert!(
            e.is_empty(),
            "form {} breaks its schema: {e:#?}",
            form.version
        );
    }
    // The shapes are there: kinds with and without bounds, codes, conditions, nested.
    let text = serde_json::to_string(&FormDefinition::dynamic_update_2021()).unwrap();
    for shape in [
        "\"type\":\"integer\",\"min\"",
        "\"type\":\"multi\"",
        "\"code\":\"unknown\"",
        "\"outcome_in\"",
        "\"age_between\"",
        "\"category_in\"",
        "\"level_at_most\"",
        "\"equals\"",
        "\"contains\"",
        "\"all\"",
        "\"any\"",
    ] {
        assert!(text.contains(shape), "the demo form has no {shape}");
    }
    // Every kind of condition, the ones the form does not use too, as serde writes it.
    let conditions = validator(&doc, &named("Condition"));
    let all = Condition::Not(Box::new(Condition::All(vec![
        Condition::OutcomeIn(vec![Outcome::HomeVisit, Outcome::Phone]),
        Condition::AgeBetween(6, 15),
        Condition::CategoryIn(vec![Category::Intellectual, Category::Mental]),
        Condition::LevelAtMost(Level::new(2).unwrap()),
        Condition::Equals {
            item: "employed".into(),
            value: Value::Bool(false),
        },
        Condition::Contains {
            item: "rehab_needs".into(),
            option: "device".into(),
        },
        Condition::Any(vec![
            Condition::Answered("phone".into()),
            Condition::Equals {
                item: "needs".into(),
                value: Value::Set(["a".to_string()].into()),
            },
        ]),
    ])));
    let json = serde_json::to_value(&all).unwrap();
    let e = errors(&conditions, &json);
    assert!(e.is_empty(), "{json} breaks the Condition schema: {e:#?}");
    // And what the server never sends is refused: the schema is not a bare object.
    let form = serde_json::to_value(FormDefinition::dynamic_update_2021()).unwrap();
    let spoiled: Vec<(&str, Box<dyn Fn(&mut Json)>)> = vec![
        (
            "a stray field",
            Box::new(|f| f["sections"][0]["items"][0]["colour"] = json!("red")),
        ),
        (
            "an unknown kind",
            Box::new(|f| f["sections"][0]["items"][0]["kind"] = json!({"type": "slider"})),
        ),
        (
            "bounds on a text item",
            Box::new(|f| {
                f["sections"][0]["items"][0]["kind"] = json!({"type": "text", "max": 3});
            }),
        ),
        (
            "an unknown condition",
            Box::new(|f| f["sections"][1]["relevant"] = json!({"sometimes": true})),
        ),
        (
            "two conditions in one",
            Box::new(|f| {
                f["sections"][1]["relevant"] = json!({"answered": "a", "outcome_in": ["phone"]});
            }),
        ),
        (
            "a nested bad condition",
            Box::new(|f| {
                f["sections"][1]["relevant"] = json!({"all": [{"not": {"outcome_in": ["gone"]}}]});
            }),
        ),
        (
            "an answer of no answer shape",
            Box::new(|f| {
                f["sections"][1]["relevant"] = json!({"equals": {"item": "a", "value": {"x": 1}}});
            }),
        ),
        (
            "an empty code",
            Box::new(|f| f["sections"][0]["items"][0]["official"]["item"] = json!("")),
        ),
        ("no sections", Box::new(|f| f["sections"] = json!(null))),
    ];
    for (what, spoil) in spoiled {
        let mut bad = form.clone();
        spoil(&mut bad);
        assert!(!v.is_valid(&bad), "the form schema accepts {what}");
    }
}

#[test]
fn openapi_has_no_bare_object_left() {
    let doc = document();
    fn walk(v: &Json, at: &str) {
        match v {
            Json::Object(o) => {
                let bare = o.get("type") == Some(&json!("object"))
                    && !o.contains_key("properties")
                    && !o.contains_key("additionalProperties")
                    && !o.contains_key("description");
                assert!(!bare, "a bare object at {at}");
                for (k, v) in o {
                    walk(v, &format!("{at}/{k}"));
                }
            }
            Json::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    walk(v, &format!("{at}/{i}"));
                }
            }
            _ => {}
        }
    }
    walk(&doc["paths"], "paths");
    walk(&doc["components"]["schemas"], "components/schemas");
    for (m, p, request, _, response, _) in BODIES {
        for body in [request, response] {
            if let Body::Json(name)
            | Body::List(name)
            | Body::JsonOrNull(name)
            | Body::JsonOrFile(name, _)
            | Body::ListOrFile(name, _) = body
            {
                assert!(
                    doc["components"]["schemas"][name].is_object(),
                    "{m} {p}: no schema {name}"
                );
            }
        }
    }
    // Enums and the error body carry examples.
    for name in ["ErrorBody", "Role", "Outcome", "Action", "Code", "ItemKind"] {
        let s = &doc["components"]["schemas"][name];
        assert!(
            s["examples"].is_array() || s["example"].is_object() || s["example"].is_string(),
            "{name} has no example: {s}"
        );
    }
}

async fn get(api: &Api, s: &Session, path: &str) -> Json {
    let r = api.get(s, path).await;
    assert_eq!(r.status(), 200, "GET {path}");
    r.json().await.unwrap()
}

async fn post(api: &Api, s: &Session, path: &str, body: Json) -> Json {
    let r = api.post(s, path, body).await;
    assert!(r.status().is_success(), "POST {path}: {}", r.status());
    r.json().await.unwrap()
}

/// Every JSON answer the document describes, served by a real server with records in every
/// state, conforms: each GET without a path parameter, the form, the action lists, the
/// checklist, and the small replies (a user created, a device revoked, a keyed mark set and
/// cleared, a campaign closed).
async fn openapi_matches_what_the_server_sends(b: Backend) {
    let api = spawn(b).await;
    let doc: Json = api
        .http
        .get(api.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc, document());
    conforms(&doc, "get", "/api/openapi.json", &doc);
    let campaign = api.campaign().await;
    let worker = api.login("w001").await;
    let sup = api.login("sup01").await;
    let admin = api.login("admin").await;
    let view = api.pull_all(&worker).await;
    let outcomes = [Outcome::HomeVisit, Outcome::Phone, Outcome::NotFound];
    let mutations: Vec<_> = view
        .values()
        .take(60)
        .enumerate()
        .map(|(i, r)| survey(&campaign, r, outcomes[i % outcomes.len()]))
        .collect();
    api.push(&worker, mutations).await;
    let person = view.values().next().unwrap().person.id;

    let form = get(&api, &worker, "/api/v1/forms/2021.1").await;
    assert_eq!(
        form,
        serde_json::to_value(FormDefinition::dynamic_update_2021()).unwrap()
    );
    conforms(&doc, "get", "/api/v1/forms/{version}", &form);

    for (m, p, _, _, response, _) in BODIES {
        let json = matches!(
            response,
            Body::Json(_) | Body::List(_) | Body::ListOrFile(..) | Body::JsonOrFile(..)
        );
        if *m == "get" && json && !p.contains('{') && *p != "/api/openapi.json" {
            let body = get(&api, &admin, p).await;
            conforms(&doc, "get", p, &body);
        }
    }

    let mut rows = 0;
    for list in doorstep_shared::analysis::Action::ALL {
        let body = get(
            &api,
            &admin,
            &format!("/api/v1/analysis/actions/{}", list.key()),
        )
        .await;
        rows += body["rows"].as_array().unwrap().len();
        conforms(&doc, "get", "/api/v1/analysis/actions/{list}", &body);
    }
    assert!(rows > 0, "the action lists are empty");

    let checklist = get(&api, &sup, "/api/v1/handover/checklist.json").await;
    assert!(!checklist["pages"].as_array().unwrap().is_empty());
    conforms(&doc, "get", "/api/v1/handover/{file}", &checklist);

    let keyed = format!("/api/v1/handover/keyed/{person}");
    let mark = post(&api, &sup, &keyed, json!({"keyed": true})).await;
    assert_eq!(mark["by"], "sup01");
    conforms(&doc, "post", "/api/v1/handover/keyed/{person}", &mark);
    let checklist = get(&api, &sup, "/api/v1/handover/checklist.json").await;
    conforms(&doc, "get", "/api/v1/handover/{file}", &checklist);
    let cleared = post(&api, &sup, &keyed, json!({"keyed": false})).await;
    assert_eq!(cleared, Json::Null);
    conforms(&doc, "post", "/api/v1/handover/keyed/{person}", &cleared);

    let created = post(
        &api,
        &admin,
        "/api/v1/admin/users",
        json!({"username": "w900", "display_name": "新调查员", "role": "worker", "password": "a-long-password"}),
    )
    .await;
    assert!(created["id"].is_string());
    conforms(&doc, "post", "/api/v1/admin/users", &created);

    let revoked = post(
        &api,
        &admin,
        &format!("/api/v1/admin/devices/{}/revoke", worker.device),
        json!({}),
    )
    .await;
    assert_eq!(revoked["revoked"], worker.device.to_string());
    conforms(&doc, "post", "/api/v1/admin/devices/{id}/revoke", &revoked);

    let audit = get(&api, &admin, "/api/v1/admin/audit").await;
    assert!(!audit.as_array().unwrap().is_empty());
    conforms(&doc, "get", "/api/v1/admin/audit", &audit);

    let closed = post(
        &api,
        &admin,
        &format!("/api/v1/admin/campaigns/{}/close", campaign.year),
        json!({}),
    )
    .await;
    assert_eq!(closed["state"], "closed");
    conforms(
        &doc,
        "post",
        "/api/v1/admin/campaigns/{year}/close",
        &closed,
    );
}
both!(openapi_matches_what_the_server_sends);
