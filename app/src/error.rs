//! The one error type of the app library. Every variant a worker can see says what happened and
//! what to do, in Chinese first and English after (`中文 / English`), ready to show as is.

use std::path::PathBuf;

use thiserror::Error;

/// Everything that can go wrong in the store, the client or the sync engine.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AppError {
    // ---- the local store ----
    /// The PIN does not open the local database.
    #[error("PIN 不正确 / Wrong PIN")]
    WrongPin,
    /// A PIN shorter than [`crate::store::MIN_PIN_LEN`].
    #[error("PIN 至少需要 {0} 位 / The PIN needs at least {0} characters")]
    PinTooShort(usize),
    /// `Store::create` on a path that already holds a store.
    #[error(
        "本机已有数据库，请输入 PIN 打开 / A local database already exists here: open it with your PIN"
    )]
    StoreExists(PathBuf),
    /// `Store::open` on a path without a store.
    #[error("本机还没有数据库，请先设置 PIN / There is no local database yet: set a PIN first")]
    NoStore(PathBuf),
    /// The database exists but its key file (`<path>.salt`) is gone: it cannot be opened.
    #[error(
        "密钥文件丢失，本机数据无法打开，只能删除后重新登录同步 / The key file is missing: the local data cannot be opened; delete it, then sign in and sync again"
    )]
    KeyFileMissing(PathBuf),
    /// The database was written by a newer version of the app.
    #[error(
        "本机数据来自更新版本的应用，请升级应用 / The local data comes from a newer app version: update the app"
    )]
    NewerSchema { found: i64, supported: i64 },
    /// The phone's storage is full: nothing was saved.
    #[error(
        "手机存储空间已满，本次未保存，请清理空间后重试 / Phone storage is full: nothing was saved, free some space and try again"
    )]
    DiskFull,
    /// Any other failure of the local database.
    #[error("本机数据存储出错：{0} / Local storage error: {0}")]
    Storage(String),

    // ---- records and edits ----
    /// No record of this person on the device (never pulled, or dropped with its community).
    #[error("本机没有此人的记录，请先同步 / This person is not on this device: sync first")]
    UnknownPerson(uuid::Uuid),
    /// The campaign or its questionnaire has not been downloaded yet.
    #[error(
        "尚未下载调查表，请先登录并同步 / The questionnaire has not been downloaded yet: sign in and sync first"
    )]
    NotSynced,
    /// The record is approved, by the street (waiting for the district) or finally: only a
    /// reviewer's return opens it again (`doorstep_shared::review::locks_worker`; the server
    /// refuses such an edit with `record_approved` too).
    #[error(
        "此记录已审核通过，不能再修改；如需更正，请联系督导员退回 / This record is approved and can no longer be changed: ask your supervisor to return it"
    )]
    RecordApproved(uuid::Uuid),
    /// The first sign-in could not reach the server: nothing is on the phone yet.
    #[error(
        "无法连接服务器，首次登录需要网络，请检查服务器地址和网络后重试 / Server unreachable: the first sign-in needs the network, check the server address and the network and try again"
    )]
    FirstSignInUnreachable(String),

    // ---- signing in and syncing ----
    #[error("尚未登录，请先登录 / Not signed in: please sign in")]
    NotSignedIn,
    #[error("服务器地址无效：{0} / Invalid server address: {0}")]
    InvalidServerUrl(String),
    #[error("用户名或密码不正确 / Wrong username or password")]
    BadCredentials,
    /// Another worker's unsent edits are on this device: signing in as someone else would strand them.
    #[error(
        "本机还有 {unsent} 条 {username} 未上传的记录，请先用该账号登录并同步 / {unsent} unsent edits of {username} are on this device: sign in as {username} and sync first"
    )]
    OtherUserHasUnsent { username: String, unsent: usize },
    #[error(
        "无法连接服务器，记录已保存在本机，请检查网络后重试 / Server unreachable: your records are kept on this phone, check the network and try again"
    )]
    Unreachable(String),
    #[error("登录已过期，请重新登录 / Session expired: please sign in again")]
    SessionExpired,
    #[error(
        "本设备已被停用，请联系区残联管理员 / This device has been revoked: contact the district administrator"
    )]
    DeviceRevoked,
    /// A 4xx answer other than the above, with the server's own code and message.
    #[error("服务器拒绝了请求：{message} / Server rejected the request: {message} ({code})")]
    ServerRejected { code: String, message: String },
    /// A 5xx answer.
    #[error("服务器暂时出错（{status}），请稍后重试 / Server error ({status}): try again later")]
    Server { status: u16 },
    /// The server answered something this app does not understand.
    #[error(
        "服务器的应答无法识别，请升级应用或联系管理员：{0} / Unexpected answer from the server (update the app or contact the administrator): {0}"
    )]
    Protocol(String),
}

/// The library's result type.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl AppError {
    /// Whether trying again later may succeed on its own: the network, a timeout, a 5xx.
    /// A 4xx, a wrong PIN or a storage error is never retried.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, AppError::Unreachable(_) | AppError::Server { .. })
    }

    /// Whether the worker must sign in again before syncing.
    #[must_use]
    pub fn needs_sign_in(&self) -> bool {
        matches!(
            self,
            AppError::SessionExpired | AppError::NotSignedIn | AppError::DeviceRevoked
        )
    }
}

impl From<rusqlite::Error> for AppError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => AppError::DiskFull,
            _ => AppError::Storage(e.to_string()),
        }
    }
}

impl From<serde_json::Error> for AppError {
    fn from(e: serde_json::Error) -> Self {
        AppError::Storage(format!("stored data does not read back: {e}"))
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            AppError::DiskFull
        } else {
            AppError::Storage(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_bilingual() {
        assert_eq!(AppError::WrongPin.to_string(), "PIN 不正确 / Wrong PIN");
        assert!(
            AppError::SessionExpired
                .to_string()
                .contains("sign in again")
        );
        assert!(AppError::SessionExpired.to_string().contains("重新登录"));
        assert!(AppError::Unreachable("x".into()).is_retryable());
        assert!(AppError::Server { status: 503 }.is_retryable());
        let rejected = AppError::ServerRejected {
            code: "out_of_scope".into(),
            message: "不在您的社区".into(),
        };
        assert!(!rejected.is_retryable());
        assert!(rejected.to_string().contains("不在您的社区"));
    }
}
