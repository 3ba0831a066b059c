"""Drive the Skypod gpodder bridge with mygpoclient, gPodder's own API client.

Called by tests/it/mygpoclient.rs with: BRIDGE_URL USER PASSWORD FEED EPISODE_URL
The Rust side has set the laptop's position for EPISODE_URL (1234 s) before; this script
checks it comes down, then uploads this device's actions and subscription changes, which
the Rust side checks in the library afterwards. Exits non-zero (AssertionError) on any
mismatch. `since` semantics: passing back the `timestamp`/`since` of an answer gives
exactly what changed after that answer, nothing twice, nothing missed.
"""
import sys
import time

from mygpoclient import api, http

url, user, password, feed, episode = sys.argv[1:6]
other_feed = "https://other.example/podcast.rss"
DEV = "gpodder-laptop"

client = api.MygPodderClient(user, password, url)

# Devices: register, list.
assert client.update_device_settings(DEV, "gPodder", "laptop")
devices = client.get_devices()
assert [d.device_id for d in devices] == [DEV], devices
assert devices[0].caption == "gPodder" and devices[0].type == "laptop"

# Subscriptions down: the realm already has FEED.
changes = client.pull_subscriptions(DEV, 0)
assert changes.add == [feed], changes.add
assert changes.remove == []

# Subscriptions up, and `since`: exactly the delta after each answer.
result = client.update_subscriptions(DEV, [other_feed], [])
assert result.update_urls == [], result.update_urls
delta = client.pull_subscriptions(DEV, changes.since)
assert delta.add == [other_feed] and delta.remove == [], (delta.add, delta.remove)
own = client.pull_subscriptions(DEV, result.since)
assert own.add == [] and own.remove == [], ("own upload handed back", own.add, own.remove)
client.update_subscriptions(DEV, [], [other_feed])
delta = client.pull_subscriptions(DEV, own.since)
assert delta.remove == [other_feed] and delta.add == [], (delta.add, delta.remove)
assert client.pull_subscriptions(DEV, delta.since).add == []
assert sorted(client.get_subscriptions(DEV)) == [feed]

# Episode actions down: the laptop's position, its device named.
down = client.download_episode_actions(0)
plays = [a for a in down.actions if a.action == "play"]
assert len(plays) == 1, [a.to_dictionary() for a in down.actions]
assert plays[0].podcast == feed and plays[0].episode == episode, plays[0].to_dictionary()
assert plays[0].position == 1234 and plays[0].total == 3600, plays[0].to_dictionary()
assert plays[0].device == "Laptop", plays[0].device
assert client.download_episode_actions(down.since).actions == []

# Episode actions up: this device listens further, later than the laptop.
stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 5))
actions = [
    api.EpisodeAction(feed, episode, "play", device=DEV, timestamp=stamp,
                      started=1234, position=1500, total=3600),
    api.EpisodeAction(feed, episode, "download", device=DEV, timestamp=stamp),
]
up_since = client.upload_episode_actions(actions)
assert up_since >= down.since

# Since before the upload: this device's play (now the newest) and its download.
delta = client.download_episode_actions(down.since)
plays = [a for a in delta.actions if a.action == "play"]
assert len(plays) == 1 and plays[0].position == 1500, [a.to_dictionary() for a in delta.actions]
assert plays[0].device == DEV
assert any(a.action == "download" for a in delta.actions)
# Since the upload's answer: nothing (its own upload is not handed back).
assert client.download_episode_actions(up_since).actions == []

# Filters: by podcast and by device.
by_podcast = client.download_episode_actions(0, podcast=feed)
assert by_podcast.actions and all(a.podcast == feed for a in by_podcast.actions)
by_device = client.download_episode_actions(0, device_id=DEV)
assert by_device.actions and all(a.device == DEV for a in by_device.actions)

# Wrong password: mygpoclient raises Unauthorized.
bad = api.MygPodderClient(user, "not the password", url)
try:
    bad.get_devices()
    raise AssertionError("a wrong password was accepted")
except http.Unauthorized:
    pass
print("mygpoclient: all checks passed")
