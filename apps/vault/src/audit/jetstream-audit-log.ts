import { Logger } from '@nestjs/common';
import { DiscardPolicy, JetStreamClient, JSONCodec, nanos, NatsConnection, NatsError, RetentionPolicy, StorageType, StreamConfig } from 'nats';
import { AUDIT_STREAM, AUDIT_SUBJECT_PREFIX, auditSubject, SecretReadAudit } from '@authpipe/contracts';
import { AuditLog } from './audit-log.port';
import { AuditUnavailableError } from './audit.errors';

const STREAM_NOT_FOUND = 10059;
/**
 * After a publish that found no stream, vault (re)creates it at once; after a failed attempt (no permission,
 * JetStream down) it tries again at most this often. Refused reads are also logged at most this often.
 */
const RETRY_INTERVAL_MS = 5_000;

export interface JetStreamAuditLogOptions {
  /** How long records are kept (the stream's max_age), applied when vault creates the stream. */
  maxAgeDays: number;
  /** JetStream replicas of the stream when vault creates it. */
  replicas: number;
  /** How long a read waits for the stream's ack of its audit record before it is refused. */
  ackTimeoutMs: number;
}

const codec = JSONCodec<SecretReadAudit>();

/**
 * The audit of reads on JetStream: stream AUTHPIPE_AUDIT (file storage, subjects `authpipe.audit.reads.>`, one
 * subject per tenant), created by vault when absent. Each record is published with `expect: stream` and awaited
 * until the stream acks it; anything else (no stream, no ack in time, rejected) is AuditUnavailableError.
 */
export class JetStreamAuditLog implements AuditLog {
  private readonly logger = new Logger('VaultAudit');
  private lastFailedEnsure = 0;
  private ensuring: Promise<void> | null = null;
  private refusedSinceLog = 0;
  private lastFailureLog = 0;

  private constructor(
    private readonly nats: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly options: JetStreamAuditLogOptions,
  ) {}

  /**
   * Bind to the stream, creating it if absent. If that fails (JetStream down, no permission), vault still starts:
   * stores work, reads are refused until the stream can be written, and creation is tried again on a failed read.
   */
  static async open(nats: NatsConnection, options: JetStreamAuditLogOptions): Promise<JetStreamAuditLog> {
    const log = new JetStreamAuditLog(nats, nats.jetstream(), options);
    await log.ensureStream();
    return log;
  }

  async recordRead(record: SecretReadAudit): Promise<void> {
    const subject = auditSubject(record.tenantId);
    try {
      // No Nats-Msg-Id: vault never retries a publish (a failed read is retried by its caller, as a new read).
      await this.js.publish(subject, codec.encode(record), { expect: { streamName: AUDIT_STREAM }, timeout: this.options.ackTimeoutMs });
    } catch (err) {
      const reason = this.reasonOf(err, subject);
      this.logRefusal(reason);
      if (noStream(err)) void this.ensureSoon();
      throw new AuditUnavailableError(reason, { cause: err });
    }
  }

  /** The stream's settings when vault creates it. */
  static streamConfig(options: Pick<JetStreamAuditLogOptions, 'maxAgeDays' | 'replicas'>): Partial<StreamConfig> {
    return {
      name: AUDIT_STREAM,
      description: 'authpipe: audit of secret reads, written by vault before each read is answered',
      subjects: [`${AUDIT_SUBJECT_PREFIX}.>`],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.Old,
      max_age: nanos(options.maxAgeDays * 24 * 60 * 60 * 1000),
      num_replicas: options.replicas,
    };
  }

  private async ensureStream(): Promise<void> {
    try {
      const jsm = await this.nats.jetstreamManager();
      const wanted = JetStreamAuditLog.streamConfig(this.options);
      const existing = await jsm.streams.info(AUDIT_STREAM).catch((err: NatsError) => {
        if (err.api_error?.err_code === STREAM_NOT_FOUND) return null;
        throw err;
      });
      if (existing) {
        if (existing.config.max_age !== wanted.max_age) {
          this.logger.log(`audit stream ${AUDIT_STREAM} exists with another max age; kept as it is (vault applies AUTHPIPE_AUDIT_MAX_AGE_DAYS only when it creates the stream)`);
        }
        return;
      }
      try {
        await jsm.streams.add(wanted);
        this.logger.log(`created audit stream ${AUDIT_STREAM} (${wanted.subjects![0]}, file storage, max age ${this.options.maxAgeDays} days)`);
      } catch (err) {
        // Another replica may have created it first.
        await jsm.streams.info(AUDIT_STREAM).catch(() => Promise.reject(err));
      }
    } catch (err) {
      this.lastFailedEnsure = Date.now();
      this.logger.error(`cannot create or bind the audit stream ${AUDIT_STREAM} (${describe(err)}): reads are refused until it can be written`);
    }
  }

  private ensureSoon(): Promise<void> {
    if (this.ensuring || Date.now() - this.lastFailedEnsure < RETRY_INTERVAL_MS) return this.ensuring ?? Promise.resolve();
    this.ensuring = this.ensureStream().finally(() => (this.ensuring = null));
    return this.ensuring;
  }

  private reasonOf(err: unknown, subject: string): string {
    const natsError = err as NatsError;
    // The stream's own refusals (limits, expect mismatch) come as API errors, some of them with code 503 too.
    if (natsError.api_error) return `stream ${AUDIT_STREAM} refused the record: ${natsError.api_error.description}`;
    if (noStream(err)) return `no stream captures ${subject}`;
    if (natsError.code === 'TIMEOUT') return `no ack from stream ${AUDIT_STREAM} within ${this.options.ackTimeoutMs} ms`;
    return describe(err);
  }

  /** An audit outage refuses every read: say so loudly, but at most once per few seconds. */
  private logRefusal(reason: string): void {
    this.refusedSinceLog++;
    if (Date.now() - this.lastFailureLog < RETRY_INTERVAL_MS) return;
    this.logger.error(`read refused: the audit record could not be written (${reason}); ${this.refusedSinceLog} read(s) refused since the last report`);
    this.lastFailureLog = Date.now();
    this.refusedSinceLog = 0;
  }
}

/** No responders: no stream captures the subject (deleted, or never created). */
const noStream = (err: unknown): boolean => (err as NatsError)?.code === '503' && !(err as NatsError).api_error;

/** A driver error by code and message (NATS messages name subjects and streams, never payloads). */
function describe(err: unknown): string {
  const e = err as NatsError;
  return e?.code ? `${e.code}${e.message && e.message !== e.code ? `: ${e.message}` : ''}` : e instanceof Error ? e.message : String(err);
}
