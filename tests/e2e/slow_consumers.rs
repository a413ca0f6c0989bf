//! A reader that stops reading is disconnected however its slowness shows
//! (its queue overflowing is in `limits`; here, one write that makes no
//! progress for the relay's write timeout), and every such disconnect is
//! counted in `palaver_slow_consumers_total`, as docs/SECURITY.md says.

use relay::Config;
use tests::{relay::metric, Client, InProcessRelay, WAIT};

#[tokio::test]
async fn a_write_that_makes_no_progress_disconnects_and_is_counted() {
    // A loaded machine stretches the write that must time out.
    let _heavy = tests::heavy().await;
    let mut config = Config::for_tests();
    config.rate_limit = 0;
    config.room_rate_limit = 0;
    // Room enough in the queue that only the write timeout can trigger.
    config.queue_bytes = 256 * 1024 * 1024;
    config.queue_len = 4096;
    let relay = InProcessRelay::start(config).await;
    let url = relay.ws_url();
    let mut seeder = Client::hello(&url, "seeder").await.unwrap();
    seeder.join("big", None).await.unwrap();
    let text = "h".repeat(3900);
    for i in 0..100 {
        seeder
            .say_acked("big", &text, &format!("h{i}"))
            .await
            .unwrap();
    }
    // 80 pages of 100 such messages (about 32 MB), more than the sockets'
    // buffers hold, to a client that reads none of it.
    let mut hog = Client::hello(&url, "hog").await.unwrap();
    hog.join("big", None).await.unwrap();
    hog.request_history_pages("big", 80).await.unwrap();
    // The writer's one stuck write times out (10 s): the hog is dropped,
    // and counted. The seeder stays.
    let deadline = tokio::time::Instant::now() + 3 * WAIT;
    while metric(relay.metrics_addr, "palaver_connections")
        .await
        .unwrap()
        != 1
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the hog was never dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        metric(relay.metrics_addr, "palaver_slow_consumers_total")
            .await
            .unwrap(),
        1
    );
    drop(hog);
    seeder.say_acked("big", "still here", "s-1").await.unwrap();
    relay.stop().await.unwrap();
}
