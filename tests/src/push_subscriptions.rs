//! The push subscriptions' contract, one behaviour every engine keeps
//! (memory, SQLite, NATS): run by `e2e/push_subscriptions_conformance.rs`.

use relay::push::{subscriptions::MAX_PER_USER, Subscription, SubscriptionStore};
use shared::UserId;

/// Endpoints move between users, only the owner unsubscribes (a push
/// service's "gone" removes it for anyone), the oldest goes past the cap.
pub async fn contract(store: &dyn SubscriptionStore) {
    let (ada, bob) = (UserId("ada".into()), UserId("bob".into()));
    let sub = |n: usize| Subscription {
        endpoint: format!("https://push.example/{n}"),
        p256dh: format!("key{n}"),
        auth: format!("auth{n}"),
        hide_text: n % 2 == 1,
    };
    store.add(&ada, sub(1)).await.unwrap();
    store.add(&ada, sub(2)).await.unwrap();
    assert_eq!(store.of(&ada).await.unwrap(), [sub(1), sub(2)]);
    // The same endpoint again, now bob's: it moves, with its new keys.
    let mut moved = sub(1);
    moved.auth = "new".into();
    moved.hide_text = false;
    store.add(&bob, moved.clone()).await.unwrap();
    assert_eq!(store.of(&ada).await.unwrap(), [sub(2)]);
    assert_eq!(store.of(&bob).await.unwrap(), [moved]);
    // Only the owner unsubscribes; a push service's "gone" removes it for anyone.
    assert!(!store.remove(Some(&ada), &sub(1).endpoint).await.unwrap());
    assert!(store.remove(None, &sub(1).endpoint).await.unwrap());
    assert!(store.of(&bob).await.unwrap().is_empty());
    assert!(store.remove(Some(&ada), &sub(2).endpoint).await.unwrap());
    // Past the cap, the oldest goes.
    for n in 0..MAX_PER_USER + 2 {
        store.add(&ada, sub(n)).await.unwrap();
    }
    let kept = store.of(&ada).await.unwrap();
    assert_eq!(kept.len(), MAX_PER_USER);
    assert_eq!(kept[0], sub(2));
    assert_eq!(kept.last(), Some(&sub(MAX_PER_USER + 1)));
    // An expired anonymous user's subscriptions all go; the others' stay.
    store.add(&bob, sub(100)).await.unwrap();
    store.forget(&ada).await.unwrap();
    assert!(store.of(&ada).await.unwrap().is_empty());
    assert_eq!(store.of(&bob).await.unwrap(), [sub(100)]);
}
