import { JetStreamError } from '../errors';

// Which stream configurations the forwarder can verify. Its checks (the sequence guard, the
// resume point, the window check) take every message in the stream for one of its entries, at the
// sequence the server acknowledged, under our subject.

/** The parts of a stream's configuration the checks depend on. */
export interface StreamConfigSeen {
  subjects?: string[];
  sources?: Array<{ name: string }>;
  mirror?: { name: string };
  /** nats-server 2.10+: stores messages under the transformed subject. */
  subject_transform?: { src?: string; dest?: string };
  /** The server stores publishes without answering them. */
  no_ack?: boolean;
}

/**
 * Our subject alone, and nothing else feeding the stream (a source or a mirror stores messages at
 * sequences of their own); messages stored under our subject (a transform stores them under
 * another, where the resume point and the window check see none of ours); acknowledgements (a
 * no_ack stream stores every publish and answers none: each would time out and count only after
 * a resync). A republish only sends copies elsewhere (onto the stream's own subjects the server
 * refuses it), so it is let through.
 */
export function checkStreamConfig(config: StreamConfigSeen, stream: string, subject: string): void {
  const subjects = config.subjects ?? [];
  if (subjects.length !== 1 || subjects[0] !== subject) {
    throw new JetStreamError('stream-subjects', `stream ${stream} has subjects [${subjects.join(', ')}]; the forwarder needs a stream whose only subject is ${subject} (the order guard relies on nobody else publishing there)`);
  }
  const feeds = [...(config.sources ?? []).map((s) => s.name), ...(config.mirror === undefined ? [] : [config.mirror.name])];
  if (feeds.length > 0) {
    throw new JetStreamError('stream-subjects', `stream ${stream} also takes messages from [${feeds.join(', ')}] (sources or a mirror); the forwarder needs a stream fed by ${subject} alone (the order guard relies on nobody else adding messages)`);
  }
  const dest = config.subject_transform?.dest;
  if (dest !== undefined && dest !== '' && dest !== subject) {
    throw new JetStreamError('stream-subjects', `stream ${stream} stores its messages under ${dest} (subject_transform); the forwarder needs them stored under ${subject}, where it checks what the stream holds`);
  }
  if (config.no_ack === true) {
    throw new JetStreamError('stream-config', `stream ${stream} does not acknowledge publishes (no_ack); the forwarder counts an entry shipped only on the stream's acknowledgement`);
  }
}
