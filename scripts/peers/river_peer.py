#!/usr/bin/env python3
"""The Python peer for `scripts/bench`: what a team builds today with confluent-kafka and River.

It reads the bench topic from the beginning in a fresh group, computes configs/bench.yaml's features per card
and per merchant (plain dicts and deques, as one would write them), scales them with River's MinMaxScaler,
scores River's HalfSpaceTrees (25 trees, height 15, window 250) and a robust z-score of the amount per card
(median and MAD of the card's last 32 amounts), evaluates the two rules, produces an alert for events past the
threshold and commits offsets (automatically, as confluent-kafka does by default). It stops after --events
events and prints one JSON line: events, seconds (first message to last), events per second.

    PYTHONPATH=.deps/python river_peer.py --brokers HOST:PORT --topic T --events 100000 --alerts-topic A
"""
import argparse
import bisect
import collections
import json
import statistics
import time
import uuid

from confluent_kafka import Consumer, Producer
from river import anomaly, compose, preprocessing

HOUR = 3_600_000
DAY = 24 * HOUR


class Buckets:
    """A hopping window as a ring of (bucket id, count, sum, sum of squares)."""

    def __init__(self, size, hop):
        self.hop, self.n = hop, size // hop
        self.ids = [None] * self.n
        self.stats = [[0, 0.0, 0.0] for _ in range(self.n)]

    def add(self, t, value):
        b = t // self.hop
        i = b % self.n
        if self.ids[i] != b:
            self.ids[i], self.stats[i] = b, [0, 0.0, 0.0]
        s = self.stats[i]
        s[0] += 1
        s[1] += value
        s[2] += value * value

    def totals(self, t):
        b = t // self.hop
        count = total = squares = 0
        for k in range(b - self.n + 1, b + 1):
            i = k % self.n
            if self.ids[i] == k:
                count += self.stats[i][0]
                total += self.stats[i][1]
                squares += self.stats[i][2]
        return count, total, squares


class Card:
    def __init__(self):
        self.times = collections.deque()          # (time, amount) for the 5 min count and 1 h sum
        self.day = Buckets(DAY, HOUR)
        self.merchants = {}                        # merchant -> last seen, for distinct merchants 24 h
        self.countries = {}                        # country -> last seen, for first seen in 30 days
        self.previous = None
        self.amounts = collections.deque(maxlen=32)


class Merchant:
    def __init__(self):
        self.hour = Buckets(HOUR, 5 * 60_000)
        self.day = Buckets(DAY, HOUR)


def features(event, cards, merchants):
    t, amount = event["ts"], float(event["amount"])
    card = cards.setdefault(event["card_id"], Card())
    merchant = merchants.setdefault(event["merchant_id"], Merchant())
    count, total, _ = card.day.totals(t)
    ratio = amount / (total / count) if count and total else 0.0
    seen = card.countries.get(event["country"])
    new_country = 0.0 if seen is not None and seen >= t - 30 * DAY else 1.0
    since = (t - card.previous) / 1000 if card.previous is not None else 0.0
    card.times.append((t, amount))
    while card.times and card.times[0][0] <= t - HOUR:
        card.times.popleft()
    card.day.add(t, amount)
    card.merchants[event["merchant_id"]] = t
    card.countries[event["country"]] = t
    card.previous = t
    merchant.hour.add(t, 1.0)
    merchant.day.add(t, amount)
    count, total, squares = card.day.totals(t)
    mean = total / count
    m_count, m_total, _ = merchant.day.totals(t)
    return {
        "amount": amount,
        "tx_count_5m": float(sum(1 for s, _ in card.times if s > t - 5 * 60_000)),
        "amount_sum_1h": sum(a for _, a in card.times),
        "amount_mean_24h": mean,
        "amount_std_24h": max(0.0, squares / count - mean * mean) ** 0.5,
        "merchants_24h": float(sum(1 for s in card.merchants.values() if s > t - DAY)),
        "new_country_30d": new_country,
        "seconds_since_prev": since,
        "amount_ratio_24h": ratio,
        "merchant_tx_count_1h": merchant.hour.totals(t)[0],
        "merchant_amount_mean_24h": m_total / m_count,
    }, card


def robust_z(card, amount):
    history = list(card.amounts)
    card.amounts.append(amount)
    if len(history) < 8:
        return 0.0
    median = statistics.median(history)
    mad = statistics.median(abs(a - median) for a in history) or 1e-9
    return abs(amount - median) / (1.4826 * mad)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--brokers", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--alerts-topic", required=True)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()

    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": f"river-peer-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": True})
    producer = Producer({"bootstrap.servers": args.brokers, "linger.ms": 5})
    consumer.subscribe([args.topic])
    model = compose.Pipeline(preprocessing.MinMaxScaler(), anomaly.HalfSpaceTrees(n_trees=25, height=15, window_size=250, seed=42))
    cards, merchants = {}, {}
    scores = []                       # sorted history of scores, for a 99.9th percentile threshold
    seen = alerts = 0
    first = None
    while seen < args.events:
        for message in consumer.consume(num_messages=500, timeout=1.0):
            if message.error():
                continue
            if first is None:
                first = time.perf_counter()
            event = json.loads(message.value())
            x, card = features(event, cards, merchants)
            hst = model.score_one(x)
            model.learn_one(x)
            z = robust_z(card, x["amount"])
            rules = (x["tx_count_5m"] >= 5 and x["amount"] < 3) or x["tx_count_5m"] >= 12
            score = max(hst, min(1.0, z / 10))
            bisect.insort(scores, score)
            threshold = scores[int(0.999 * (len(scores) - 1))]
            if seen >= 1000 and (score >= threshold or rules):
                producer.produce(args.alerts_topic, key=event["card_id"],
                                 value=json.dumps({"event_id": event["event_id"], "score": score, "rules": rules}))
                producer.poll(0)
                alerts += 1
            seen += 1
            if seen >= args.events:
                break
    producer.flush(30)
    seconds = time.perf_counter() - first
    consumer.close()
    print(json.dumps({"name": "python peer (confluent-kafka + River)", "events": seen, "seconds": seconds,
                      "events_per_second": seen / seconds, "alerts": alerts}))


if __name__ == "__main__":
    main()
