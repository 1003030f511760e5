import { Inject, Injectable } from '@nestjs/common';
import { AckPolicy, DeliverPolicy, JSONCodec, NatsConnection } from 'nats';
import { AUDIT_STREAM, auditSubject, SecretReadAudit } from '@authpipe/contracts';
import { NATS_CONNECTION } from '@authpipe/platform';

const codec = JSONCodec<SecretReadAudit>();

export interface AuditPage {
  items: (SecretReadAudit & { seq: number })[];
  /** Pass as `after` to read the next page; absent when there is nothing more now. */
  next?: string;
}

/**
 * Reads the audit of secret reads that vault writes to JetStream, one tenant's subject only, in order, from a
 * cursor (the stream sequence of the last record seen) or a start time.
 */
@Injectable()
export class JetStreamAuditLog {
  constructor(@Inject(NATS_CONNECTION) private readonly nats: NatsConnection) {}

  async list(tenantId: string, options: { after?: number; since?: Date; limit: number; connectionId?: string }): Promise<AuditPage> {
    const jsm = await this.nats.jetstreamManager();
    try {
      await jsm.streams.info(AUDIT_STREAM);
    } catch {
      return { items: [] }; // no read has been audited yet
    }
    const consumer = await jsm.consumers.add(AUDIT_STREAM, {
      filter_subject: auditSubject(tenantId),
      ack_policy: AckPolicy.None,
      inactive_threshold: 30_000_000_000, // 30 s in nanoseconds: an abandoned page cleans itself up
      ...(options.after !== undefined
        ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: options.after + 1 }
        : options.since
          ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: options.since.toISOString() }
          : { deliver_policy: DeliverPolicy.All }),
    });
    const items: AuditPage['items'] = [];
    let lastSeq: number | undefined;
    let stoppedInBatch = false;
    try {
      const reader = await this.nats.jetstream().consumers.get(AUDIT_STREAM, consumer.name);
      let pending = (await reader.info()).num_pending;
      while (pending > 0 && items.length < options.limit) {
        const batch = await reader.fetch({ max_messages: Math.min(256, pending), expires: 2_000 });
        let got = 0;
        for await (const message of batch) {
          got++;
          lastSeq = message.seq;
          const record = codec.decode(message.data);
          if (!options.connectionId || record.connectionId === options.connectionId) items.push({ ...record, seq: message.seq });
          if (items.length >= options.limit) {
            stoppedInBatch = true; // the rest of this batch was delivered but not read: the next page starts after lastSeq
            break;
          }
        }
        if (!got) break;
        pending = (await reader.info()).num_pending;
      }
      const more = items.length >= options.limit && (stoppedInBatch || pending > 0);
      return { items, ...(more && lastSeq !== undefined ? { next: String(lastSeq) } : {}) };
    } finally {
      await jsm.consumers.delete(AUDIT_STREAM, consumer.name).catch(() => undefined);
    }
  }
}
