//! The services the harness breaks and mends, on this machine: RabbitMQ stopped and started
//! (`rabbitmqctl stop_app` / `start_app`), PostgreSQL restarted (`pg_ctlcluster … restart`, which
//! terminates every connection), MariaDB shut down and started again. It runs as root, as the
//! test machines do; on a machine where these commands do not exist it fails loudly.

use std::process::Command;
use std::time::{Duration, Instant};

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new(program).args(args).status()?;
    anyhow::ensure!(status.success(), "{program} {args:?} failed: {status}");
    Ok(())
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(200),
    )
    .is_ok()
}

async fn wait_for_port(port: u16, open: bool, limit: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while port_open(port) != open {
        anyhow::ensure!(
            started.elapsed() < limit,
            "port {port} did not become {}",
            if open { "open" } else { "closed" }
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

pub async fn stop_rabbitmq() -> anyhow::Result<()> {
    run("rabbitmqctl", &["-q", "stop_app"])?;
    wait_for_port(5672, false, Duration::from_secs(60)).await
}

pub async fn start_rabbitmq() -> anyhow::Result<()> {
    run("rabbitmqctl", &["-q", "start_app"])?;
    wait_for_port(5672, true, Duration::from_secs(120)).await
}

fn postgres_version() -> anyhow::Result<String> {
    let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    versions.sort();
    versions
        .pop()
        .ok_or_else(|| anyhow::anyhow!("no PostgreSQL cluster in /etc/postgresql"))
}

pub async fn restart_postgres() -> anyhow::Result<()> {
    let version = postgres_version()?;
    run(
        "pg_ctlcluster",
        &["--skip-systemctl-redirect", &version, "main", "restart"],
    )?;
    wait_for_port(5432, true, Duration::from_secs(60)).await
}

pub async fn restart_mariadb() -> anyhow::Result<()> {
    run("mysqladmin", &["-uroot", "shutdown"])?;
    wait_for_port(3306, false, Duration::from_secs(60)).await?;
    std::fs::create_dir_all("/run/mysqld")?;
    let _ = Command::new("chown")
        .args(["mysql:mysql", "/run/mysqld"])
        .status();
    run(
        "start-stop-daemon",
        &[
            "--start",
            "--oknodo",
            "--background",
            "--exec",
            "/usr/sbin/mariadbd",
        ],
    )?;
    wait_for_port(3306, true, Duration::from_secs(60)).await
}

/// Delete the harness's RabbitMQ queues (`tg_fault_…`).
pub fn delete_queues(prefix: &str) {
    let Ok(output) = Command::new("rabbitmqctl")
        .args(["list_queues", "name", "-q", "--no-table-headers"])
        .output()
    else {
        return;
    };
    for name in String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|n| n.starts_with(prefix))
    {
        let _ = Command::new("rabbitmqctl")
            .args(["delete_queue", name])
            .output();
    }
}
