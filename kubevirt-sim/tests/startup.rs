//! The simulator refuses to start without a client CA: there is no anonymous mode.

use std::process::Command;

#[test]
fn without_client_ca_the_simulator_does_not_start_and_says_why() {
    let output = Command::new(env!("CARGO_BIN_EXE_wukong-kubevirt-sim"))
        .args(["--tls-cert", "server.crt", "--tls-key", "server.key"])
        // Nothing from the environment may stand in for the flag or reach a cluster.
        .env_remove("KUBECONFIG")
        .output()
        .expect("the simulator binary runs");
    assert!(!output.status.success(), "it must not start");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("the following required arguments were not provided")
            && stderr.contains("--client-ca <FRONT_PROXY_CA_PEM>"),
        "{stderr}"
    );
}
