//! An on-premises vendor on several hosts (`replicas`): a host that fails its health
//! check gets nothing; requests go to the least loaded healthy host, in turn when they
//! tie; a host that goes away mid-run costs no request (its connection fails, it is
//! marked down, the attempt goes to another); the record names the host.

use super::*;

/// The model requests each host received (health checks aside).
fn posts(server: &Server) -> Vec<usize> {
    server
        .hosts
        .iter()
        .map(|host| {
            host.as_ref().map_or(0, |h| {
                h.requests().iter().filter(|r| r.method == "POST").count()
            })
        })
        .collect()
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never: {what}");
}

fn hello(text: &str) -> Value {
    json!({"model": "gpu", "messages": [{"role": "user", "content": text}]})
}

#[tokio::test]
async fn requests_go_to_the_least_loaded_healthy_host_and_survive_one_going_away() {
    let mut server = start(false).await;
    until("the dead host is marked down", || {
        !server.gpus.is_healthy("http://127.0.0.1:9")
    })
    .await;
    // Idle hosts take requests in turn; the dead one gets none.
    for i in 0..6 {
        let (status, body) = server.openai(&server.dev, hello(&format!("n{i}"))).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(posts(&server), [3, 3]);
    let hosts: Vec<String> = server
        .events()
        .await
        .iter()
        .map(|e| e.body.details["replica"].as_str().unwrap().to_string())
        .collect();
    assert!(hosts.iter().all(|h| h != "http://127.0.0.1:9"), "{hosts:?}");

    // A slow request holds one host: the next ones go to the other.
    let slow = {
        let (http, url, token) = (server.http.clone(), server.url.clone(), server.dev.clone());
        tokio::spawn(async move {
            http.post(format!("{url}/v1/chat/completions"))
                .bearer_auth(token)
                .json(&hello("STANDIN_SLOW_ANSWER"))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    until("the slow request reached a host", || {
        posts(&server).iter().sum::<usize>() == 7
    })
    .await;
    let busy = posts(&server).iter().position(|n| *n == 4).unwrap();
    for i in 0..3 {
        let (status, body) = server.openai(&server.dev, hello(&format!("m{i}"))).await;
        assert_eq!(status, 200, "{body}");
    }
    let after = posts(&server);
    assert_eq!(after[busy], 4, "nothing more to the busy host: {after:?}");
    assert_eq!(after[1 - busy], 6);
    assert_eq!(slow.await.unwrap(), 200);

    // One host goes away: every request is still answered, by the other.
    server.hosts[0] = None;
    for i in 0..4 {
        let (status, body) = server.openai(&server.dev, hello(&format!("k{i}"))).await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(!server.gpus.is_healthy(server.gpus.urls().next().unwrap()));
    let last = server.events().await;
    let survivor = server.gpus.urls().nth(1).unwrap().to_string();
    assert!(
        last.iter()
            .rev()
            .take(4)
            .all(|e| e.body.details["replica"] == survivor.as_str()),
        "{:?}",
        last.iter()
            .rev()
            .take(4)
            .map(|e| e.body.details.clone())
            .collect::<Vec<_>>()
    );
}
