import { JetStreamError } from '../errors';

// Which stream configurations the forwarder can verify. Its checks (the sequence guard, the
// resume point, the window check) take every message in the stream for one of its entries, at the
// sequence the server acknowledged, under our subject.

/** The parts of a stream's configuration the checks depend on. */
export interface StreamConfigSeen {
  subjects?: string[];
  sources?: Array<{ name: string }>;
  mirror?: { name: string };
}

/** Our subject alone, and nothing else feeding the stream (a source or a mirror stores messages at sequences of their own). */
export function checkStreamConfig(config: StreamConfigSeen, stream: string, subject: string): void {
  const subjects = config.subjects ?? [];
  if (subjects.length !== 1 || subjects[0] !== subject) {
    throw new JetStreamError('stream-subjects', `stream ${stream} has subjects [${subjects.join(', ')}]; the forwarder needs a stream whose only subject is ${subject} (the order guard relies on nobody else publishing there)`);
  }
  const feeds = [...(config.sources ?? []).map((s) => s.name), ...(config.mirror === undefined ? [] : [config.mirror.name])];
  if (feeds.length > 0) {
    throw new JetStreamError('stream-subjects', `stream ${stream} also takes messages from [${feeds.join(', ')}] (sources or a mirror); the forwarder needs a stream fed by ${subject} alone (the order guard relies on nobody else adding messages)`);
  }
}
