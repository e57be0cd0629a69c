//! Prints the CRDs as YAML:
//!   cargo run -p wukong-api --bin crdgen > deploy/base/crd.yaml
//!   cargo run -p wukong-api --bin crdgen schedules > deploy/base/crd-schedules.yaml
use kube::CustomResourceExt;

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    let yaml = match what.as_str() {
        "" | "wukongs" => serde_yaml::to_string(&wukong_api::Wukong::crd()),
        "schedules" => wukong_api::schedule_crds_yaml(),
        other => {
            eprintln!("crdgen: {other:?}: name wukongs (the default) or schedules");
            std::process::exit(2);
        }
    };
    match yaml {
        Ok(yaml) => print!("{yaml}"),
        Err(e) => {
            eprintln!("crdgen: cannot serialize the CRD: {e}");
            std::process::exit(1);
        }
    }
}
