//! Conformance cases of [`CacheStore`] and [`UsageStore`]: the response cache and the usage ledger.

use pretty_assertions::assert_eq;
use promptops::money::Micros;
use promptops::store::{CacheEntry, UsageGroup, UsageRecord};

use super::{Backend, scope};

pub async fn cache_entries_are_read_back_until_they_expire(b: Backend) {
    let s = scope("t", "p");
    let now = chrono::Utc::now();
    b.store.cache_put(&s, "k1", "{\"text\":\"a\"}", None).await.expect("put");
    b.store.cache_put(&s, "k2", "short-lived", Some(now + chrono::Duration::seconds(60))).await.expect("put");
    assert_eq!(b.store.cache_get(&s, "k1", now).await.expect("get").as_deref(), Some("{\"text\":\"a\"}"));
    assert_eq!(b.store.cache_get(&s, "k2", now).await.expect("get").as_deref(), Some("short-lived"));
    let later = now + chrono::Duration::seconds(61);
    assert_eq!(b.store.cache_get(&s, "k2", later).await.expect("get"), None, "expired");
    assert_eq!(b.store.cache_get(&s, "missing", now).await.expect("get"), None);
    // A second put replaces the value.
    b.store.cache_put(&s, "k1", "new", None).await.expect("put");
    assert_eq!(b.store.cache_get(&s, "k1", now).await.expect("get").as_deref(), Some("new"));
    assert_eq!(b.store.cache_clear(&s, Some(later)).await.expect("clear"), 1, "only the expired entry");
    assert_eq!(b.store.cache_clear(&s, None).await.expect("clear"), 1);
    assert_eq!(b.store.cache_get(&s, "k1", now).await.expect("get"), None);
}

pub async fn cache_entries_are_read_many_at_once_in_the_order_asked(b: Backend) {
    let (s, other) = (scope("t", "p"), scope("t", "q"));
    let now = chrono::Utc::now();
    b.store.cache_put(&s, "k1", "one", None).await.expect("put");
    b.store.cache_put(&s, "k2", "two", Some(now + chrono::Duration::seconds(60))).await.expect("put");
    b.store.cache_put(&other, "k3", "another project's", None).await.expect("put");
    let keys: Vec<String> = ["k2", "missing", "k1", "k3", "k1"].map(str::to_owned).to_vec();
    let found = b.store.cache_get_many(&s, &keys, now).await.expect("get many");
    let found: Vec<Option<&str>> = found.iter().map(Option::as_deref).collect();
    assert_eq!(found, vec![Some("two"), None, Some("one"), None, Some("one")], "a key asked twice is answered twice");
    let later = now + chrono::Duration::seconds(61);
    let found = b.store.cache_get_many(&s, &keys[..3], later).await.expect("get many");
    assert_eq!(found, vec![None, None, Some("one".to_owned())], "expired");
    assert_eq!(b.store.cache_get_many(&s, &[], now).await.expect("get none"), Vec::<Option<String>>::new());
}

fn usage(at: chrono::DateTime<chrono::Utc>, provider: &str, model: &str, cost: i64, hit: bool) -> UsageRecord {
    UsageRecord {
        at,
        provider: provider.to_owned(),
        model: model.to_owned(),
        prompt: Some("support/triage".to_owned()),
        input_tokens: if hit { 0 } else { 100 },
        output_tokens: if hit { 0 } else { 20 },
        cached_input_tokens: 0,
        cost: Micros(cost),
        cache_hit: hit,
    }
}

pub async fn usage_is_summed_by_period_and_grouped(b: Backend) {
    let s = scope("t", "p");
    let day = |d: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, d, 12, 0, 0).single().expect("date");
    let records = vec![
        usage(day(1), "fast", "gpt-4o-mini", 150, false),
        usage(day(1), "claude", "claude-sonnet-4-5", 3_000, false),
        usage(day(2), "fast", "gpt-4o-mini", 250, false),
        usage(day(2), "fast", "gpt-4o-mini", 0, true),
    ];
    b.store.record_usage(&s, &records).await.expect("record");
    assert_eq!(b.store.spend_between(&s, day(1), day(2)).await.expect("spend"), Micros(3_150));
    assert_eq!(b.store.spend_between(&s, day(1), day(3)).await.expect("spend"), Micros(3_400));
    let by_day = b.store.usage_report(&s, None, UsageGroup::Day).await.expect("report");
    let got: Vec<(&str, u64, u64, i64)> =
        by_day.iter().map(|r| (r.key.as_str(), r.requests, r.cache_hits, r.cost.0)).collect();
    assert_eq!(got, vec![("2026-11-01", 2, 0, 3_150), ("2026-11-02", 2, 1, 250)]);
    let by_provider = b.store.usage_report(&s, Some(day(2)), UsageGroup::Provider).await.expect("report");
    assert_eq!(by_provider.len(), 1);
    assert_eq!(
        (by_provider[0].key.as_str(), by_provider[0].input_tokens, by_provider[0].cost),
        ("fast", 100, Micros(250))
    );
    let by_model = b.store.usage_report(&s, None, UsageGroup::Model).await.expect("report");
    assert_eq!(by_model.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), vec!["claude-sonnet-4-5", "gpt-4o-mini"]);
}

pub async fn cache_and_usage_are_isolated_by_scope(b: Backend) {
    let (a, other_tenant, other_project) = (scope("t1", "p"), scope("t2", "p"), scope("t1", "q"));
    let now = chrono::Utc::now();
    b.store.cache_put(&a, "key", "secret answer", None).await.expect("put");
    b.store.record_usage(&a, &[usage(now, "fast", "gpt-4o-mini", 999, false)]).await.expect("record");
    for s in [&other_tenant, &other_project] {
        assert_eq!(b.store.cache_get(s, "key", now).await.expect("get"), None);
        assert_eq!(b.store.cache_clear(s, None).await.expect("clear"), 0);
        let day = now - chrono::Duration::days(1);
        assert_eq!(b.store.spend_between(s, day, now + chrono::Duration::days(1)).await.expect("spend"), Micros::ZERO);
        assert!(b.store.usage_report(s, None, UsageGroup::Day).await.expect("report").is_empty());
    }
    assert_eq!(b.store.cache_get(&a, "key", now).await.expect("get").as_deref(), Some("secret answer"));
}

pub async fn cache_batches_replace_existing_entries(b: Backend) {
    let s = scope("t", "p");
    let now = chrono::Utc::now();
    let entry = |key: &str, value: &str| CacheEntry { key: key.to_owned(), value: value.to_owned(), expires_at: None };
    b.store.cache_put(&s, "k1", "old", None).await.expect("put");
    b.store.cache_put_many(&s, &[entry("k1", "new"), entry("k2", "two"), entry("k3", "three")]).await.expect("batch");
    for (key, value) in [("k1", "new"), ("k2", "two"), ("k3", "three")] {
        assert_eq!(b.store.cache_get(&s, key, now).await.expect("get").as_deref(), Some(value), "{key}");
    }
    b.store.cache_put_many(&s, &[]).await.expect("an empty batch is fine");
    assert_eq!(b.store.cache_clear(&s, None).await.expect("clear"), 3);
}
