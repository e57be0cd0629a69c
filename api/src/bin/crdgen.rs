//! Prints the Wukong CRD as YAML: `cargo run -p wukong-api --bin crdgen > deploy/base/crd.yaml`.
use kube::CustomResourceExt;

fn main() {
    match serde_yaml::to_string(&wukong_api::Wukong::crd()) {
        Ok(yaml) => print!("{yaml}"),
        Err(e) => {
            eprintln!("crdgen: cannot serialize the CRD: {e}");
            std::process::exit(1);
        }
    }
}
