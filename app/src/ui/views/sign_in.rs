//! The first sign-in (online: server, user, password, then a PIN) and the offline unlock.

use dioxus::prelude::*;

use crate::error::AppError;
use crate::store::MIN_PIN_LEN;
use crate::sync::PendingSignIn;
use crate::ui::i18n::{self, Text};
use crate::ui::{Screen, use_app};

/// First sign-in, in two steps: the account (checked with the server at once), then the PIN
/// that encrypts the store.
#[component]
pub fn SignIn() -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let mut step = use_signal(|| 1u8);
    let mut server = use_signal(|| ctx.services.config().server_url.clone().unwrap_or_default());
    let mut username = use_signal(String::new);
    let mut password = use_signal(String::new);
    let mut pin = use_signal(String::new);
    let mut pin2 = use_signal(String::new);
    let mut letters = use_signal(|| false);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<Text>);
    let mut checked = use_signal(|| None::<PendingSignIn>);

    let c = ctx.clone();
    let next = move |_| {
        if busy() {
            return;
        }
        if server().trim().is_empty() || username().trim().is_empty() || password().is_empty() {
            error.set(Some(i18n::FILL_ALL.into()));
            return;
        }
        error.set(None);
        busy.set(true);
        let c = c.clone();
        spawn(async move {
            let result = c
                .services
                .check_account(server(), username(), password())
                .await;
            busy.set(false);
            match result {
                Ok(p) => {
                    password.set(String::new());
                    checked.set(Some(p));
                    step.set(2);
                }
                Err(e) => error.set(Some((&e).into())),
            }
        });
    };
    let c = ctx.clone();
    let finish = move |_| {
        if pin().chars().count() < MIN_PIN_LEN {
            error.set(Some((&AppError::PinTooShort(MIN_PIN_LEN)).into()));
            return;
        }
        if pin() != pin2() {
            error.set(Some(i18n::PIN_MISMATCH.into()));
            return;
        }
        let Some(pending) = checked() else {
            step.set(1);
            return;
        };
        error.set(None);
        busy.set(true);
        let c = c.clone();
        spawn(async move {
            let result = c.services.create_store(pending, pin()).await;
            busy.set(false);
            match result {
                Ok(_) => c.reset(Screen::Home),
                Err(e) => error.set(Some((&e).into())),
            }
        });
    };

    rsx! {
        section { class: "card",
            if step() == 1 {
                p { {lang.t(i18n::SIGN_IN_INTRO)} }
                label { class: "lbl", r#for: "server", {lang.t(i18n::SERVER)} }
                input {
                    id: "server",
                    r#type: "url",
                    inputmode: "url",
                    autocomplete: "url",
                    placeholder: "http://",
                    value: "{server}",
                    "data-testid": "server",
                    oninput: move |e: FormEvent| server.set(e.value()),
                }
                label { class: "lbl", r#for: "username", {lang.t(i18n::USERNAME)} }
                input {
                    id: "username",
                    r#type: "text",
                    autocomplete: "username",
                    autocapitalize: "none",
                    value: "{username}",
                    "data-testid": "username",
                    oninput: move |e: FormEvent| username.set(e.value()),
                }
                label { class: "lbl", r#for: "password", {lang.t(i18n::PASSWORD)} }
                input {
                    id: "password",
                    r#type: "password",
                    autocomplete: "current-password",
                    value: "{password}",
                    "data-testid": "password",
                    oninput: move |e: FormEvent| password.set(e.value()),
                }
                if let Some(e) = error() {
                    p { class: "banner error", role: "alert", "data-testid": "sign-in-error", {e.get(lang).to_string()} }
                }
                if busy() {
                    p { class: "banner warn", role: "status", {lang.t(i18n::SIGNING_IN)} }
                }
                button { class: "btn primary", disabled: busy(), "data-testid": "next", onclick: next, {lang.t(i18n::NEXT)} }
            } else {
                h2 { {lang.t(i18n::CHOOSE_PIN)} }
                p { {lang.t(i18n::CHOOSE_PIN_INTRO)} }
                label { class: "lbl check",
                    input {
                        r#type: "checkbox",
                        checked: letters(),
                        "data-testid": "passcode-text",
                        onchange: move |_| { let on = !letters(); letters.set(on); },
                    }
                    " {lang.t(i18n::PASSCODE_TEXT)}"
                }
                label { class: "lbl", r#for: "pin", {lang.t(i18n::PIN)} }
                input {
                    id: "pin",
                    r#type: "password",
                    inputmode: if letters() { "text" } else { "numeric" },
                    autocomplete: "new-password",
                    value: "{pin}",
                    "data-testid": "pin",
                    oninput: move |e: FormEvent| pin.set(e.value()),
                }
                label { class: "lbl", r#for: "pin2", {lang.t(i18n::PIN_AGAIN)} }
                input {
                    id: "pin2",
                    r#type: "password",
                    inputmode: if letters() { "text" } else { "numeric" },
                    autocomplete: "new-password",
                    value: "{pin2}",
                    "data-testid": "pin2",
                    oninput: move |e: FormEvent| pin2.set(e.value()),
                }
                if let Some(e) = error() {
                    p { class: "banner error", role: "alert", "data-testid": "sign-in-error", {e.get(lang).to_string()} }
                }
                if busy() {
                    p { class: "banner warn", role: "status", {lang.t(i18n::SIGNING_IN)} }
                }
                button {
                    class: "btn primary",
                    disabled: busy(),
                    "data-testid": "finish-sign-in",
                    onclick: finish,
                    {lang.t(i18n::FINISH_SIGN_IN)}
                }
                button {
                    class: "btn link",
                    disabled: busy(),
                    onclick: move |_| { error.set(None); step.set(1); },
                    {lang.t(i18n::BACK)}
                }
            }
        }
    }
}

/// Opens the encrypted store with the PIN: works offline.
#[component]
pub fn Unlock() -> Element {
    let ctx = use_app();
    let lang = ctx.lang();
    let mut pin = use_signal(String::new);
    let mut busy = use_signal(|| false);
    let mut error = use_signal(|| None::<Text>);
    let mut forgetting = use_signal(|| false);
    let passcode = use_hook(|| ctx.services.passcode());

    let c = ctx.clone();
    let unlock = move |_| {
        if busy() {
            return;
        }
        busy.set(true);
        error.set(None);
        let c = c.clone();
        spawn(async move {
            let result = c.services.unlock(pin()).await;
            busy.set(false);
            pin.set(String::new());
            match result {
                Ok(()) => c.reset(Screen::Home),
                Err(e) => error.set(Some((&e).into())),
            }
        });
    };
    let c = ctx.clone();
    let wipe = move |_| {
        let c = c.clone();
        spawn(async move {
            match c.services.wipe().await {
                Ok(()) => c.reset(Screen::SignIn),
                Err(e) => error.set(Some((&e).into())),
            }
        });
    };

    rsx! {
        section { class: "card",
            p { {lang.t(i18n::UNLOCK_INTRO)} }
            label { class: "lbl", r#for: "unlock-pin", "PIN" }
            input {
                id: "unlock-pin",
                r#type: "password",
                inputmode: passcode.input_mode(),
                autocomplete: "current-password",
                value: "{pin}",
                "data-testid": "unlock-pin",
                oninput: move |e: FormEvent| pin.set(e.value()),
            }
            if let Some(e) = error() {
                p { class: "banner error", role: "alert", "data-testid": "unlock-error", {e.get(lang).to_string()} }
            }
            button {
                class: "btn primary",
                disabled: busy(),
                "data-testid": "unlock",
                onclick: unlock,
                if busy() { {lang.t(i18n::UNLOCKING)} } else { {lang.t(i18n::UNLOCK)} }
            }
            if forgetting() {
                div { class: "banner warn",
                    p { {lang.t(i18n::FORGET_WARNING)} }
                    button { class: "btn danger", "data-testid": "wipe", onclick: wipe, {lang.t(i18n::FORGET_CONFIRM)} }
                    button { class: "btn", onclick: move |_| forgetting.set(false), {lang.t(i18n::CANCEL)} }
                }
            } else {
                button { class: "btn link", onclick: move |_| forgetting.set(true), {lang.t(i18n::FORGOT_PIN)} }
            }
        }
    }
}
