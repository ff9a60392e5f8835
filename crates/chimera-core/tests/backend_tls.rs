//! HTTPS: both clients against a loopback TLS server whose CA is generated at test time (no
//! network): trusted through `ca_cert`, accepted with `insecure`, refused otherwise with an
//! error that says TLS failed and what to do; a bad CA file and a plain-HTTP server named.

use std::sync::Arc;
use std::time::Duration;

use chimera_core::backend::{
    Backend, BackendError, GenRequest, HttpClient, OllamaClient, OpenAiClient, Timeouts, TlsOptions, no_sink,
};
use chimera_core::options::GenOptions;
use chimera_testkit::{Final, Reply, Script, ScriptedServer, ServerOptions, TestCa, Timings};

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        first_token: Duration::from_secs(10),
        idle: Duration::from_secs(10),
    }
}

fn req() -> GenRequest {
    GenRequest::generate("m", None, "hello", GenOptions::default())
}

fn script() -> Script {
    let t = Timings { eval_count: 3, eval_duration_ns: 3_000_000, ..Default::default() };
    Script::tokens(Duration::ZERO, Duration::from_millis(1), 3, Final::stop(t))
}

async fn tls_server(ca: &Arc<TestCa>) -> ScriptedServer {
    let opts = ServerOptions { tls: Some(ca.clone()), ..Default::default() };
    ScriptedServer::start_with(opts, |r| {
        if r.path.starts_with("/v1/") { Reply::OpenAi(script()) } else { Reply::Ollama(script()) }
    })
    .await
}

fn client(tls: &TlsOptions) -> HttpClient {
    HttpClient::new(&timeouts(), tls).expect("client")
}

#[tokio::test]
async fn https_with_the_lab_ca_or_insecure_and_a_clear_error_without() {
    let ca = Arc::new(TestCa::generate());
    let srv = tls_server(&ca).await;
    assert!(srv.url().starts_with("https://127.0.0.1:"));
    let dir = tempfile::tempdir().unwrap();
    let pem = dir.path().join("ca.pem");
    ca.write_ca_pem(&pem).unwrap();

    for tls in [
        TlsOptions { ca_cert: Some(pem.clone()), insecure: false },
        TlsOptions { ca_cert: None, insecure: true },
    ] {
        let ollama = OllamaClient::with_http(client(&tls), &srv.url(), timeouts());
        let rec = ollama.generate(&req(), &no_sink).await.unwrap_or_else(|f| panic!("{tls:?}: {}", f.error));
        assert_eq!((rec.text.as_str(), rec.completed), ("t0 t1 t2 ", true));
        let openai = OpenAiClient::with_http(client(&tls), &srv.url(), None, timeouts());
        let rec = openai.generate(&req(), &no_sink).await.unwrap_or_else(|f| panic!("{tls:?}: {}", f.error));
        assert_eq!(rec.chunks, 3);
    }

    // The platform's roots do not include the test CA: TLS fails, and the error says so.
    let plain = OllamaClient::with_http(client(&TlsOptions::default()), &srv.url(), timeouts());
    let f = plain.generate(&req(), &no_sink).await.unwrap_err();
    let BackendError::Tls { url, detail } = &f.error else {
        panic!("expected a TLS error, got {:?}", f.error)
    };
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(detail.to_lowercase().contains("certificate"), "{detail}");
    let msg = f.error.to_string();
    assert!(msg.contains("TLS") && msg.contains("--ca-cert") && msg.contains("--insecure"), "{msg}");
    assert!(!msg.contains("Is the server running"), "{msg}");
    assert_eq!(f.partial.chunks, 0);
    let e = plain.version().await.unwrap_err();
    assert!(matches!(e, BackendError::Tls { .. }), "{e:?}");
    srv.shutdown().await;
}

/// A plain-HTTP server that answers anything it cannot parse (here a TLS ClientHello) with
/// `400 Bad Request` and closes, as Ollama's and llama-server's HTTP stacks do.
async fn plain_http_400() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        }
    });
    url
}

#[tokio::test]
async fn a_plain_http_server_behind_an_https_url_and_a_bad_ca_file_are_named() {
    let url = plain_http_400().await;
    let f = OllamaClient::new(&url, timeouts()).generate(&req(), &no_sink).await.unwrap_err();
    assert!(matches!(f.error, BackendError::Tls { .. }), "{:?}", f.error);
    assert!(f.error.to_string().contains("use an http:// URL"), "{}", f.error);

    let dir = tempfile::tempdir().unwrap();
    let not_pem = dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").unwrap();
    for path in [dir.path().join("missing.pem"), not_pem] {
        let e = HttpClient::new(&timeouts(), &TlsOptions { ca_cert: Some(path.clone()), insecure: false })
            .unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("--ca-cert") && msg.contains(&path.display().to_string()), "{msg}");
    }
}
