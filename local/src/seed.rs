//! Demo data for the local stack (local/demo-data.json): characters, the credit
//! packages of the product spec, and two operators. Safe to run again.

use chrono::Utc;
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
            ..Operator::new_account(o.id, o.email, o.name, hash, now)
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
