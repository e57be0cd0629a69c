//! Certificates for the TLS tests, made with the `openssl` command as `./dev/cluster` makes the
//! cluster's (rcgen is not in the workspace, and openssl is already needed to run the cluster).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A directory of test certificates, removed when dropped.
pub struct TestPki {
    pub dir: PathBuf,
}

impl TestPki {
    pub fn new(label: &str) -> TestPki {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "wukong-kubevirt-sim-{label}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory for test certificates");
        TestPki { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// A self-signed CA: `<name>.crt`, `<name>.key`.
    pub fn ca(&self, name: &str) {
        openssl(
            &self.dir,
            &[
                "req",
                "-x509",
                "-new",
                "-nodes",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-sha256",
                "-days",
                "2",
                "-subj",
                &format!("/CN={name}"),
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            ],
        );
    }

    /// A leaf certificate `<name>.crt`/`<name>.key` for `subject`, signed by CA `ca`, with the
    /// extended key usage `eku` (clientAuth / serverAuth) and optional subject alternative names.
    pub fn leaf(&self, name: &str, ca: &str, subject: &str, eku: &str, san: Option<&str>) {
        let ext = format!("{name}.ext");
        let mut extensions = format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage={eku}\n"
        );
        if let Some(san) = san {
            extensions.push_str(&format!("subjectAltName={san}\n"));
        }
        std::fs::write(self.dir.join(&ext), extensions).expect("writing an extensions file");
        openssl(
            &self.dir,
            &[
                "req",
                "-new",
                "-nodes",
                "-utf8",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
                "-subj",
                subject,
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-sha256",
                "-days",
                "2",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.crt"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-extfile",
                &ext,
                "-out",
                &format!("{name}.crt"),
            ],
        );
    }
}

impl Drop for TestPki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command is needed for the TLS tests (as for ./dev/cluster)");
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}
