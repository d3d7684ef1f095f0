import { loadConfig } from "../../src/config.js";
import type { Egress } from "../../src/egress.js";
import { consistencyProof, leafHashOf, merkleRoot } from "../../src/trace/merkle.js";
import { type SigningKeyPair, signNote } from "../../src/trace/signed-note.js";
import type { AddCheckpointRequest } from "../../src/trace/witness-protocol.js";
import { tempDir } from "./temp-dirs.js";

/**
 * A tenant log as a witness sees one, made from the Merkle functions alone: leaves, checkpoints signed by the log's
 * key (origin `<key name>/tenant/<tenant, percent-encoded>`, size, base64 root) and consistency proofs between
 * sizes. A fork is a second TestTenantLog with the same key and tenant and other leaves.
 */
export class TestTenantLog {
  readonly leaves: Buffer[] = [];
  readonly origin: string;

  constructor(
    readonly key: SigningKeyPair,
    tenant: string,
    private readonly leafTag = "entry",
  ) {
    this.origin = `${key.signer.name}/tenant/${encodeURIComponent(tenant)}`;
  }

  /** Appends `count` leaves and returns the new size. */
  append(count: number): number {
    for (let i = 0; i < count; i++) this.leaves.push(leafHashOf(Buffer.from(`${this.leafTag} ${this.leaves.length}`)));
    return this.leaves.length;
  }

  body(size = this.leaves.length): string {
    return `${this.origin}\n${size}\n${merkleRoot(this.leaves.slice(0, size)).toString("base64")}\n`;
  }

  /** The checkpoint at `size`, signed by the log's key (or another signer, to forge one). */
  checkpoint(size = this.leaves.length, signer = this.key.signer): string {
    return signNote(this.body(size), signer);
  }

  /** What a log sends a witness that has cosigned `oldSize`: the proof from there, and the checkpoint at `size`. */
  request(oldSize: number, size = this.leaves.length): AddCheckpointRequest {
    return { oldSize, consistencyProof: consistencyProof(this.leaves.slice(0, size), oldSize), note: this.checkpoint(size) };
  }
}

/** The egress the operator configures to reach witnesses on loopback (AOS_EGRESS_ALLOW), as the log's process would load it. */
export function loopbackEgress(): Egress {
  const config = loadConfig({ AOS_HOME: tempDir("aos-witness-home"), AOS_EGRESS_ALLOW: "127.0.0.1" });
  return { openings: config.egressOpenings, narrowTo: [] };
}
