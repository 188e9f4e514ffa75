//! Demo data for the local stack (local/demo-data.json): characters, the credit
//! packages of the product spec, and two operators. Safe to run again.

use chrono::Utc;
use fantooo::domain::ids::{CharacterId, OperatorId};
use fantooo::domain::{Character, CreditPackage, Operator};
use serde::Deserialize;

const DEMO: &str = include_str!("../demo-data.json");

#[derive(Deserialize)]
struct DemoOperator {
    id: String,
    email: String,
    name: String,
    password: String,
    languages: Vec<String>,
    specializations: Vec<String>,
    max_concurrent_chats: u32,
}

#[derive(Deserialize)]
struct Demo {
    characters: Vec<Character>,
    packages: Vec<CreditPackage>,
    operators: Vec<DemoOperator>,
}

pub async fn run(app: &fantooo::App) -> anyhow::Result<()> {
    let demo: Demo = serde_json::from_str(DEMO)?;
    for c in &demo.characters {
        app.store.put_character(c).await?;
    }
    for p in &demo.packages {
        app.store.put_package(p).await?;
    }
    let now = Utc::now();
    for o in demo.operators {
        let hash = fantooo::auth::password::hash(o.password).await?;
        let op = Operator {
            languages: o.languages,
            specializations: o.specializations,
            max_concurrent_chats: o.max_concurrent_chats,
            ..Operator::new_account(OperatorId::new(o.id), o.email, o.name, hash, now)
        };
        app.store.create_operator(&op, now).await?;
    }
    println!(
        "Demo data: {} characters, {} credit packages, operators op1@demo.local and op2@demo.local",
        demo.characters.len(),
        demo.packages.len()
    );
    Ok(())
}

/// Every 30 s, checks that the demo data is still there: an emulator that
/// restarted comes back empty, and every request would then fail. `local/up`
/// restarts and re-seeds a stopped emulator itself; otherwise the log says how.
pub fn watch(app: &fantooo::App) {
    let app = app.clone();
    tokio::spawn(async move {
        let mut warned = false;
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            let found = app.store.get_character(&CharacterId::new("c_demo01")).await;
            if let Err(e) = &found {
                tracing::warn!(error = %e, "the local table could not be read");
            }
            let present = matches!(found, Ok(Some(_)));
            if !present && !warned {
                tracing::warn!(
                    "the local table is empty or gone (did the emulator restart?): stop and run ./local/up again, \
                     or re-create it with `.venv/bin/python local/bootstrap.py --endpoint $AWS_ENDPOINT_URL \
                     --table $TABLE_NAME --queue-prefix $TABLE_NAME` then `target/debug/fantooo-local --seed-only`"
                );
            }
            warned = !present;
        }
    });
}
