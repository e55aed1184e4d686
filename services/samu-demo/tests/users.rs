//! The demo's people: one account per console role, written to
//! `demo-tokens.json` under `users`, kept across restarts, and given a new
//! password when the file is lost.

use chrono::TimeDelta;
use samu_runtime::{accounts::AccountError, Central};
use samu_store::{Role, Store};
use samu_testkit::TestBackend;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_users_are_seeded_once_and_their_passwords_kept_or_reset() {
    let db = TestBackend::Sqlite.fresh().await;
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    samu_demo::seed(&store).await.unwrap();
    let shutdown = CancellationToken::new();
    let dir = std::env::temp_dir().join(format!("samu-demo-users-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut runtime = samu_runtime::RuntimeConfig::default();
    runtime.spool.dir = Some(dir.join("spool"));
    let (central, tasks) = Central::start(store, runtime, Default::default(), shutdown.clone())
        .await
        .unwrap();
    let data_dir = dir.display().to_string();

    let first = samu_demo::write_tokens(&central, &data_dir).await.unwrap();
    let file: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("demo-tokens.json")).unwrap())
            .unwrap();
    for key in [
        "admin",
        "wall",
        "tarm",
        "physician",
        "radio_operator",
        "manager",
    ] {
        assert!(file[key].is_string(), "{key} token kept: {file}");
    }
    assert_eq!(file["devices"].as_object().unwrap().len(), 69);
    for (role_key, username, role) in [
        ("tarm", "tarm", Role::Tarm),
        ("physician", "medico", Role::Physician),
        ("radio_operator", "radio", Role::RadioOperator),
        ("manager", "gestor", Role::Manager),
    ] {
        let entry = &file["users"][role_key];
        assert_eq!(entry["username"], username, "{file}");
        let password = entry["password"].as_str().unwrap();
        assert!(password.chars().count() >= 10);
        let (_, user) = central
            .login(username, password, TimeDelta::hours(1), None, None)
            .await
            .unwrap_or_else(|e| panic!("{username} logs in: {e}"));
        assert_eq!(user.role, role);
        assert_eq!(user.central, None, "demo users work for every central");
        assert!(user.name.contains("demo"), "{}", user.name);
    }

    // A restart: same passwords, same tokens, no error for the existing users.
    let second = samu_demo::write_tokens(&central, &data_dir).await.unwrap();
    assert_eq!(second.users, first.users);
    assert_eq!(second.admin, first.admin);

    // The file is lost: the users get new passwords, and only those work.
    std::fs::remove_file(dir.join("demo-tokens.json")).unwrap();
    let third = samu_demo::write_tokens(&central, &data_dir).await.unwrap();
    let (old, new) = (&first.users["physician"], &third.users["physician"]);
    assert_eq!(new.username, "medico");
    assert_ne!(old.password, new.password);
    assert!(matches!(
        central
            .login("medico", &old.password, TimeDelta::hours(1), None, None)
            .await,
        Err(AccountError::BadLogin)
    ));
    central
        .login("medico", &new.password, TimeDelta::hours(1), None, None)
        .await
        .expect("the new password works");

    // A file whose password no longer matches (changed by an admin) is
    // corrected rather than trusted.
    let radio = central
        .store()
        .user_by_username("radio")
        .await
        .unwrap()
        .unwrap()
        .0;
    central
        .set_password(&radio.id, "changed-by-the-admin")
        .await
        .unwrap();
    let fourth = samu_demo::write_tokens(&central, &data_dir).await.unwrap();
    let password = &fourth.users["radio_operator"].password;
    assert_ne!(password, "changed-by-the-admin");
    central
        .login("radio", password, TimeDelta::hours(1), None, None)
        .await
        .expect("the written password works");

    shutdown.cancel();
    tasks.join().await;
    let _ = std::fs::remove_dir_all(&dir);
}
