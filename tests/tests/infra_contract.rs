//! The deployment contract: the Terraform in `infra/terraform` provisions what the
//! platform needs, and every container receives exactly the environment variables the
//! `agentops` binary reads for its subcommand (taken from the clap definition, the one
//! source of truth), with secrets only in secret variables and sensitive outputs marked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use clap::CommandFactory;
use hcl::{Body, Expression, ObjectKey};

/// Variables the binary reads outside clap.
const READ_OUTSIDE_CLAP: &[&str] = &["RUST_LOG"];

/// Containers whose subcommand the binary does not have yet. Each entry names the issue
/// that adds it; when the subcommand lands, this test fails until the entry is removed,
/// which switches the full check on for that container.
const PENDING_SUBCOMMANDS: &[(&str, &str)] = &[];

/// Variables Terraform already passes for a feature the binary does not read yet.
const PENDING_VARIABLES: &[(&str, &str)] = &[];

/// Variables every agent container must be given, and which of them are secret.
const AGENT_REQUIRED: &[&str] = &["AGENTOPS_URL", "AGENTOPS_BIND", "AGENTOPS_API_KEY"];
const AGENT_SECRETS: &[&str] = &["AGENTOPS_API_KEY", "LLM_API_KEY"];

/// Variables a production API replica must be given.
const API_REQUIRED: &[&str] = &[
    "DATABASE_URL",
    "REDIS_URL",
    "AGENTOPS_BIND",
    "AGENTOPS_ADMIN_KEY",
    "AGENTOPS_MIGRATE",
];

fn terraform() -> Body {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/terraform");
    let mut blocks = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("infra/terraform exists")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "tf"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        let body: Body = hcl::from_str(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
        blocks.extend(body.into_inner());
    }
    Body::from(blocks)
}

fn resources<'a>(body: &'a Body, kind: &str) -> Vec<(&'a str, &'a Body)> {
    body.blocks()
        .filter(|b| {
            b.identifier() == "resource" && b.labels().first().map(|l| l.as_str()) == Some(kind)
        })
        .map(|b| (b.labels()[1].as_str(), b.body()))
        .collect()
}

fn attribute<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn object_keys(expr: Option<&Expression>) -> BTreeSet<String> {
    match expr {
        Some(Expression::Object(map)) => map
            .keys()
            .map(|key| match key {
                ObjectKey::Identifier(id) => id.to_string(),
                ObjectKey::Expression(Expression::String(s)) => s.clone(),
                other => panic!("environment keys must be literal names, found {other:?}"),
            })
            .collect(),
        None => BTreeSet::new(),
        Some(other) => panic!("environment maps must be literal objects, found {other:?}"),
    }
}

fn strings(expr: Option<&Expression>) -> Vec<String> {
    match expr {
        Some(Expression::Array(items)) => items
            .iter()
            .map(|item| match item {
                Expression::String(s) => s.clone(),
                other => panic!("expected a literal string, found {other:?}"),
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn variable_default(body: &Body, name: &str) -> Option<Expression> {
    body.blocks()
        .find(|b| b.identifier() == "variable" && b.labels()[0].as_str() == name)
        .and_then(|b| attribute(b.body(), "default").cloned())
}

/// The environment variables a subcommand of `agentops` reads, global flags included.
fn binary_env(subcommand: &str) -> Option<BTreeSet<String>> {
    let cli = agentops::cli::Cli::command();
    let sub = cli.get_subcommands().find(|s| s.get_name() == subcommand)?;
    let mut names: BTreeSet<String> = cli
        .get_arguments()
        .chain(sub.get_arguments())
        .filter_map(|arg| arg.get_env())
        .map(|env| env.to_string_lossy().into_owned())
        .collect();
    names.extend(READ_OUTSIDE_CLAP.iter().map(|s| (*s).to_owned()));
    Some(names)
}

#[test]
fn every_resource_the_platform_needs_is_provisioned() {
    let tf = terraform();
    for kind in [
        "scaleway_vpc",
        "scaleway_vpc_private_network",
        "scaleway_rdb_instance",
        "scaleway_rdb_database",
        "scaleway_rdb_user",
        "scaleway_redis_cluster",
        "scaleway_object_bucket",
        "scaleway_registry_namespace",
        "scaleway_container_namespace",
        "scaleway_container",
    ] {
        assert!(
            !resources(&tf, kind).is_empty(),
            "no {kind} in infra/terraform"
        );
    }
    let (_, redis) = resources(&tf, "scaleway_redis_cluster")[0];
    assert_eq!(
        attribute(redis, "tls_enabled"),
        Some(&Expression::Bool(true)),
        "Redis must use TLS"
    );
    let (_, registry) = resources(&tf, "scaleway_registry_namespace")[0];
    assert_eq!(
        attribute(registry, "is_public"),
        Some(&Expression::Bool(false)),
        "the registry must be private"
    );
    let containers: BTreeSet<String> = resources(&tf, "scaleway_container")
        .iter()
        .map(|(_, body)| strings(attribute(body, "args")).join(" "))
        .collect();
    assert_eq!(
        containers,
        BTreeSet::from([
            "api".into(),
            "chief-of-staff".into(),
            "seed".into(),
            "telegram".into()
        ])
    );
}

#[test]
fn every_container_gets_exactly_the_variables_its_subcommand_reads() {
    let tf = terraform();
    let pending_vars: BTreeMap<&str, &str> = PENDING_VARIABLES.iter().copied().collect();
    let mut missing_subcommands = BTreeSet::new();
    for (name, body) in resources(&tf, "scaleway_container") {
        let args = strings(attribute(body, "args"));
        assert_eq!(
            strings(attribute(body, "command")),
            ["agentops"],
            "{name}: every container runs the one binary"
        );
        let subcommand = args.first().unwrap_or_else(|| panic!("{name} has no args"));
        let plain = object_keys(attribute(body, "environment_variables"));
        let secret = object_keys(attribute(body, "secret_environment_variables"));
        let both: Vec<_> = plain.intersection(&secret).collect();
        assert!(
            both.is_empty(),
            "{name}: {both:?} set both plainly and secretly"
        );
        let Some(reads) = binary_env(subcommand) else {
            // A container whose command does not exist yet must be off unless asked for.
            let count = attribute(body, "count")
                .map(|e| hcl::format::to_string(e).unwrap())
                .unwrap_or_default();
            let switch = count
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                .find(|word| word.starts_with("var.enable_"))
                .unwrap_or_else(|| panic!("{name}: its count has no var.enable_* switch"));
            assert_eq!(
                variable_default(&tf, switch.trim_start_matches("var.")),
                Some(Expression::Bool(false)),
                "{name}: `agentops {subcommand}` does not exist yet, so {switch} must default to false"
            );
            missing_subcommands.insert(subcommand.clone());
            continue;
        };
        for var in plain.iter().chain(&secret) {
            assert!(
                reads.contains(var) || pending_vars.contains_key(var.as_str()),
                "{name}: Terraform sets {var}, which `agentops {subcommand}` does not read"
            );
        }
        if subcommand == "seed" || subcommand == "chief-of-staff" {
            for var in AGENT_REQUIRED {
                assert!(
                    plain.contains(*var) || secret.contains(*var),
                    "{name}: {var} is not set"
                );
            }
            for var in AGENT_SECRETS {
                assert!(
                    !plain.contains(*var),
                    "{name}: {var} must be a secret variable"
                );
            }
        }
        if subcommand == "telegram" {
            for var in [
                "AGENTOPS_URL",
                "AGENTOPS_BIND",
                "CHIEF_OF_STAFF_URL",
                "TELEGRAM_WEBHOOK_URL",
            ] {
                assert!(plain.contains(var), "{name}: {var} is not set");
            }
            for var in [
                "AGENTOPS_API_KEY",
                "TELEGRAM_BOT_TOKEN",
                "TELEGRAM_WEBHOOK_SECRET",
            ] {
                assert!(
                    secret.contains(var),
                    "{name}: {var} must be a secret variable"
                );
            }
        }
        if subcommand == "chief-of-staff" || subcommand == "telegram" {
            let key = hcl::format::to_string(
                match attribute(body, "secret_environment_variables") {
                    Some(Expression::Object(map)) => map
                        .iter()
                        .find(|(k, _)| matches!(k, ObjectKey::Identifier(id) if id.as_str() == "AGENTOPS_API_KEY"))
                        .map(|(_, v)| v)
                        .expect("AGENTOPS_API_KEY"),
                    _ => panic!("{name}: no secret variables"),
                },
            )
            .unwrap();
            assert!(
                key.contains("admin_key"),
                "{name}: it creates or approves work, so it needs the admin key (got {key})"
            );
        }
        if subcommand == "api" {
            for var in API_REQUIRED {
                assert!(
                    plain.contains(*var) || secret.contains(*var),
                    "{name}: {var} is not set"
                );
            }
            for var in ["DATABASE_URL", "REDIS_URL", "AGENTOPS_ADMIN_KEY"] {
                assert!(
                    secret.contains(var),
                    "{name}: {var} must be a secret variable"
                );
            }
        }
    }
    // Pending entries must not outlive the code that makes them unnecessary.
    for (var, why) in PENDING_VARIABLES {
        assert!(
            binary_env("api").is_some_and(|reads| !reads.contains(*var)),
            "{var} is read now ({why} is done): remove it from PENDING_VARIABLES"
        );
    }
    let pending: BTreeSet<String> = PENDING_SUBCOMMANDS
        .iter()
        .map(|(s, _)| (*s).to_owned())
        .collect();
    assert_eq!(
        missing_subcommands, pending,
        "PENDING_SUBCOMMANDS must list exactly the subcommands the binary lacks"
    );
}

#[test]
fn outputs_that_carry_secrets_are_sensitive() {
    let tf = terraform();
    // Whatever feeds a secret variable is a secret.
    let mut secret_sources = BTreeSet::new();
    for (_, body) in resources(&tf, "scaleway_container") {
        if let Some(Expression::Object(map)) = attribute(body, "secret_environment_variables") {
            for value in map.values() {
                secret_sources.insert(hcl::format::to_string(value).unwrap());
            }
        }
    }
    assert!(secret_sources.iter().any(|s| s.contains("database_url")));
    let mut checked = 0;
    for block in tf.blocks().filter(|b| b.identifier() == "output") {
        let name = block.labels()[0].as_str();
        let value = hcl::format::to_string(attribute(block.body(), "value").unwrap()).unwrap();
        let carries_secret = secret_sources
            .iter()
            .any(|source| value.contains(source.trim()));
        if carries_secret {
            checked += 1;
            assert_eq!(
                attribute(block.body(), "sensitive"),
                Some(&Expression::Bool(true)),
                "output {name} carries a secret and must be sensitive"
            );
        }
    }
    assert!(
        checked >= 2,
        "expected the connection-string outputs to be checked"
    );
}
