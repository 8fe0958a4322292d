//! Password logins against a real directory: OpenLDAP's slapd (Debian's `slapd` package, which
//! `tests/prepare.sh` installs), started per test on free ports with a CA of its own, serving
//! `ldaps://` and `ldap://` with StartTLS.

mod logins;
mod recovery;

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use authd::ldap::{LdapAttributes, LdapGroups, LdapSecurity, LdapSettings};
use tokio::process::{Child, Command};

use crate::helpers::free_port;

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
const SLAPPASSWD: &str = "/usr/sbin/slappasswd";
const BASE: &str = "dc=example,dc=org";
const ROOT_DN: &str = "cn=admin,dc=example,dc=org";
const ROOT_PASSWORD: &str = "directory-root-secret";
pub const SERVICE_DN: &str = "cn=authd,ou=services,dc=example,dc=org";
pub const SERVICE_PASSWORD: &str = "service-account-secret";
/// Alice, in the directory only, in the `engineering` group.
pub const ALICE_PASSWORD: &str = "alice's directory passphrase";
/// Bob, in the directory and also a local account of the same name.
pub const BOB_PASSWORD: &str = "bob's directory passphrase";

pub struct Slapd {
    dir: tempfile::TempDir,
    child: Child,
    pub ldap_port: u16,
    pub ldaps_port: u16,
}

async fn run(command: &mut Command) -> String {
    let output = command.output().await.unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

async fn hashed(password: &str) -> String {
    run(Command::new(SLAPPASSWD).args(["-s", password]))
        .await
        .trim()
        .to_owned()
}

/// A CA and a server certificate for 127.0.0.1 and localhost, by the openssl command line.
async fn certificates(dir: &Path) {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    run(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &path("ca.key"),
        "-out",
        &path("ca.pem"),
        "-days",
        "2",
        "-subj",
        "/CN=authd test directory CA",
        "-addext",
        "basicConstraints=critical,CA:true",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]))
    .await;
    run(Command::new("openssl").args([
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &path("server.key"),
        "-out",
        &path("server.csr"),
        "-subj",
        "/CN=localhost",
    ]))
    .await;
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:false\n\
         extendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &path("server.csr"),
        "-CA",
        &path("ca.pem"),
        "-CAkey",
        &path("ca.key"),
        "-CAcreateserial",
        "-out",
        &path("server.pem"),
        "-days",
        "2",
        "-extfile",
        &path("server.ext"),
    ]))
    .await;
}

impl Slapd {
    /// A directory with a service account, alice and bob under `ou=people`, and the groups
    /// `engineering` (alice) and `staff` (alice and bob).
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        certificates(dir.path()).await;
        let root = dir.path().display();
        std::fs::create_dir(dir.path().join("db")).unwrap();
        std::fs::write(
            dir.path().join("slapd.conf"),
            format!(
                "include /etc/ldap/schema/core.schema\n\
                 include /etc/ldap/schema/cosine.schema\n\
                 include /etc/ldap/schema/inetorgperson.schema\n\
                 modulepath /usr/lib/ldap\n\
                 moduleload back_mdb\n\
                 pidfile {root}/slapd.pid\n\
                 TLSCertificateFile {root}/server.pem\n\
                 TLSCertificateKeyFile {root}/server.key\n\
                 database mdb\n\
                 suffix \"{BASE}\"\n\
                 rootdn \"{ROOT_DN}\"\n\
                 rootpw {ROOT_PASSWORD}\n\
                 directory {root}/db\n\
                 access to attrs=userPassword by anonymous auth by * none\n\
                 access to * by dn.exact=\"{SERVICE_DN}\" read by * none\n"
            ),
        )
        .unwrap();
        let ldif = format!(
            "dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
             dn: ou=people,{BASE}\nobjectClass: organizationalUnit\nou: people\n\n\
             dn: ou=services,{BASE}\nobjectClass: organizationalUnit\nou: services\n\n\
             dn: ou=groups,{BASE}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: {SERVICE_DN}\nobjectClass: person\ncn: authd\nsn: service\nuserPassword: {}\n\n\
             {}\n{}\n\
             dn: cn=engineering,ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: engineering\n\
             member: uid=alice,ou=people,{BASE}\n\n\
             dn: cn=staff,ou=groups,{BASE}\nobjectClass: groupOfNames\ncn: staff\n\
             member: uid=alice,ou=people,{BASE}\nmember: uid=bob,ou=people,{BASE}\n",
            hashed(SERVICE_PASSWORD).await,
            person("alice", "Alice Liddell", &hashed(ALICE_PASSWORD).await),
            person("bob", "Bob Dylan", &hashed(BOB_PASSWORD).await),
        );
        std::fs::write(dir.path().join("data.ldif"), ldif).unwrap();
        let conf = dir.path().join("slapd.conf");
        run(Command::new(SLAPADD)
            .arg("-f")
            .arg(&conf)
            .arg("-l")
            .arg(dir.path().join("data.ldif")))
        .await;
        // Ports picked now are free now, not later: a slapd that finds one taken exits, and
        // is started again on others.
        for _ in 0..5 {
            let (ldap_port, ldaps_port) = (free_port(), free_port());
            if let Some(child) = launch(dir.path(), ldap_port, ldaps_port).await {
                return Self {
                    dir,
                    child,
                    ldap_port,
                    ldaps_port,
                };
            }
        }
        panic!("slapd did not start");
    }

    /// Freezes slapd (SIGSTOP): the directory takes connections and never answers, the
    /// outage a login waits longest on.
    pub async fn freeze(&self) {
        self.signal("-STOP").await;
    }

    /// Lets a frozen slapd go on (SIGCONT).
    pub async fn thaw(&self) {
        self.signal("-CONT").await;
    }

    async fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("slapd is running").to_string();
        run(Command::new("kill").args([signal, &pid])).await;
    }

    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The `AUTHD_LDAP_*` settings for this directory over ldaps, as an operator sets them.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let password_file = self.dir.path().join("service-password");
        std::fs::write(&password_file, SERVICE_PASSWORD).unwrap();
        let path = |path: PathBuf| path.to_str().unwrap().to_owned();
        vec![
            (
                "AUTHD_LDAP_URL",
                format!("ldaps://127.0.0.1:{}", self.ldaps_port),
            ),
            ("AUTHD_LDAP_CA_FILE", path(self.ca_file())),
            ("AUTHD_LDAP_BIND_DN", SERVICE_DN.to_owned()),
            ("AUTHD_LDAP_BIND_PASSWORD_FILE", path(password_file)),
            ("AUTHD_LDAP_USER_BASE", format!("ou=people,{BASE}")),
            ("AUTHD_LDAP_GROUP_BASE", format!("ou=groups,{BASE}")),
        ]
    }

    /// authd's settings for this directory, over `security`, with groups.
    pub fn settings(&self, security: LdapSecurity) -> LdapSettings {
        let url = match security {
            LdapSecurity::Tls => format!("ldaps://127.0.0.1:{}", self.ldaps_port),
            LdapSecurity::StartTls => format!("ldap://127.0.0.1:{}", self.ldap_port),
        };
        LdapSettings {
            url,
            security,
            tls: std::sync::Arc::new(
                authd::store::tls::client_config(Some(&self.ca_file())).unwrap(),
            ),
            bind_dn: Some(SERVICE_DN.to_owned()),
            bind_password: Some(SERVICE_PASSWORD.to_owned().into()),
            user_base: format!("ou=people,{BASE}"),
            user_filter: LdapSettings::DEFAULT_USER_FILTER.to_owned(),
            attributes: LdapAttributes {
                id: "entryUUID".to_owned(),
                username: "uid".to_owned(),
                email: "mail".to_owned(),
            },
            groups: Some(LdapGroups {
                base: format!("ou=groups,{BASE}"),
                filter: LdapSettings::DEFAULT_GROUP_FILTER.to_owned(),
                name_attribute: "cn".to_owned(),
            }),
            trust_email: false,
            timeout: Duration::from_secs(3),
        }
    }

    /// Applies `ldif` (changetype records) as the directory's administrator, over ldaps.
    pub async fn modify(&self, ldif: &str) {
        use tokio::io::AsyncWriteExt;
        let mut child = Command::new("ldapmodify")
            .args([
                "-H",
                &format!("ldaps://127.0.0.1:{}", self.ldaps_port),
                "-D",
                ROOT_DN,
                "-w",
                ROOT_PASSWORD,
            ])
            .env("LDAPTLS_CACERT", self.ca_file())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(ldif.as_bytes()).await.unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.unwrap();
        assert!(
            output.status.success(),
            "ldapmodify: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Adds a person under `ou=people`.
    pub async fn add_person(&self, uid: &str, name: &str, password: &str) {
        let entry = person(uid, name, &hashed(password).await);
        self.modify(&entry.replacen('\n', "\nchangetype: add\n", 1))
            .await;
    }
}

/// slapd on `dir`'s configuration and these ports, once it answers; `None` if it exited (a
/// port taken since it was picked).
async fn launch(dir: &Path, ldap_port: u16, ldaps_port: u16) -> Option<Child> {
    let mut child = Command::new(SLAPD)
        .arg("-f")
        .arg(dir.join("slapd.conf"))
        .arg("-h")
        .arg(format!(
            "ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/"
        ))
        // `-d 0`: in the foreground, so the test owns the process.
        .args(["-d", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("slapd (apt-get install slapd; tests/prepare.sh does)");
    for _ in 0..100 {
        if child.try_wait().unwrap().is_some() {
            return None;
        }
        let answers = async {
            tokio::net::TcpStream::connect(("127.0.0.1", ldap_port)).await?;
            tokio::net::TcpStream::connect(("127.0.0.1", ldaps_port)).await
        };
        if answers.await.is_ok() {
            // Another process's listener on a port slapd wanted would answer too.
            tokio::time::sleep(Duration::from_millis(50)).await;
            return child.try_wait().unwrap().is_none().then_some(child);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("slapd did not answer on ports {ldap_port} and {ldaps_port}");
}

/// A person entry (LDIF), its address `UID@example.org`.
fn person(uid: &str, name: &str, hashed_password: &str) -> String {
    let surname = name.rsplit(' ').next().unwrap_or(name);
    format!(
        "dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n\
         sn: {surname}\nmail: {uid}@example.org\nuserPassword: {hashed_password}\n"
    )
}

/// `authd ldap ARGS` on `app`'s deployment with `env` over its settings: whether it
/// succeeded, and its JSON (null when it prints none). Awaited on the runtime, which serves
/// the app meanwhile.
pub async fn authd_ldap(
    app: &crate::helpers::TestApp,
    args: &[&str],
    env: &[(&str, String)],
) -> (bool, serde_json::Value) {
    let output = Command::new(env!("CARGO_BIN_EXE_authd"))
        .env_clear()
        .arg("ldap")
        .args(args)
        .env("DATABASE_URL", app.resources.database_url())
        .env("REDIS_URL", crate::helpers::redis_url())
        .env("AUTHD_REDIS_PREFIX", &app.resources.redis_prefix)
        .env("AUTHD_MASTER_KEY", &app.resources.master_key_base64)
        .env("AUTHD_LOG", "warn")
        .envs(env.iter().map(|(name, value)| (name, value)))
        .output()
        .await
        .unwrap();
    let json = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (output.status.success(), json)
}
