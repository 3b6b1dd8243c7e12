"""ServingPusher: TFX's Pusher, publishing each version atomically and keeping the newest K."""
