"""Drive the Skypod gpodder bridge with mygpoclient, gPodder's own API client.

Called by tests/mygpoclient.rs with: BRIDGE_URL USER PASSWORD FEED EPISODE_URL
The Rust side has set the laptop's position for EPISODE_URL (1234 s) before; this script
checks it comes down, then uploads the phone's actions and subscription changes, which the
Rust side checks in the library afterwards. Exits non-zero (AssertionError) on any mismatch.
"""
import sys
import time

from mygpoclient import api

url, user, password, feed, episode = sys.argv[1:6]
other_feed = "https://other.example/podcast.rss"

client = api.MygPodderClient(user, password, url)

# Devices: register, list.
assert client.update_device_settings("gpodder-laptop", "gPodder", "laptop")
devices = client.get_devices()
assert [d.device_id for d in devices] == ["gpodder-laptop"], devices
assert devices[0].caption == "gPodder" and devices[0].type == "laptop"

# Subscriptions down: the realm already has FEED.
changes = client.pull_subscriptions("gpodder-laptop", 0)
assert changes.add == [feed], changes.add
assert changes.remove == []
since = changes.since

# Subscriptions up: add one, then remove it; `since` gives exactly the delta.
time.sleep(1.1)
result = client.update_subscriptions("gpodder-laptop", [other_feed], [])
assert result.update_urls == [], result.update_urls
delta = client.pull_subscriptions("gpodder-laptop", since)
assert delta.add == [other_feed] and delta.remove == [], (delta.add, delta.remove)
time.sleep(1.1)
later = client.pull_subscriptions("gpodder-laptop", result.since + 1)
assert later.add == [] and later.remove == [], (later.add, later.remove)
result = client.update_subscriptions("gpodder-laptop", [], [other_feed])
delta = client.pull_subscriptions("gpodder-laptop", later.since)
assert delta.remove == [other_feed] and delta.add == [], (delta.add, delta.remove)
assert sorted(client.get_subscriptions("gpodder-laptop")) == [feed]

# Episode actions down: the laptop's position, named.
down = client.download_episode_actions(0)
plays = [a for a in down.actions if a.action == "play"]
assert len(plays) == 1, [a.to_dictionary() for a in down.actions]
assert plays[0].podcast == feed and plays[0].episode == episode, plays[0].to_dictionary()
assert plays[0].position == 1234, plays[0].to_dictionary()
assert plays[0].device == "Laptop", plays[0].device

# Episode actions up: this device listens further (a newer time than the laptop's).
stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - 5))
time.sleep(1.1)
before_upload = client.download_episode_actions(0).since
actions = [
    api.EpisodeAction(feed, episode, "play", device="gpodder-laptop", timestamp=stamp,
                      started=1234, position=1500, total=3600),
    api.EpisodeAction(feed, episode, "download", device="gpodder-laptop", timestamp=stamp),
]
up_since = client.upload_episode_actions(actions)
assert up_since >= before_upload

# `since`: what changed since before the upload is this device's play, now the newest.
delta = client.download_episode_actions(before_upload)
plays = [a for a in delta.actions if a.action == "play"]
assert len(plays) == 1 and plays[0].position == 1500, [a.to_dictionary() for a in delta.actions]
assert plays[0].device == "gpodder-laptop"
assert any(a.action == "download" for a in delta.actions)
# ...and nothing changed a second after the last answer.
time.sleep(1.1)
quiet = client.download_episode_actions(delta.since + 1)
assert quiet.actions == [], [a.to_dictionary() for a in quiet.actions]

# Filters: by podcast and by device.
by_podcast = client.download_episode_actions(0, podcast=feed)
assert by_podcast.actions and all(a.podcast == feed for a in by_podcast.actions)
by_device = client.download_episode_actions(0, device_id="gpodder-laptop")
assert by_device.actions and all(a.device == "gpodder-laptop" for a in by_device.actions)

# Wrong password: mygpoclient raises Unauthorized.
from mygpoclient import http
bad = api.MygPodderClient(user, "not the password", url)
try:
    bad.get_devices()
    raise AssertionError("a wrong password was accepted")
except http.Unauthorized:
    pass
print("mygpoclient: all checks passed")
