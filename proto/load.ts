// Loads berth.proto at run time (no compiled stubs) with the same options the type generator
// uses (`npm run gen:proto`), so the generated TypeScript types describe exactly what
// @grpc/grpc-js hands us: int64 as numbers, enums as their names, defaults filled in, and a
// virtual field naming the member set in each oneof.
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/berth.js';

export const PROTO_PATH = fileURLToPath(new URL('./berth/v1/berth.proto', import.meta.url));

export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

/**
 * Largest message either end accepts. A full assignment set is sent in chunks well below it;
 * the margin is for a status batch of many tasks with long last output.
 */
export const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * Channelz (gRPC's introspection service) is not served, but grpc-js keeps its records by default:
 * per connection a trace and counters, per message a timestamp. With a session per node that was
 * memory and garbage for nothing.
 */
export const NO_CHANNELZ: grpc.ChannelOptions = { 'grpc.enable_channelz': 0 };

/** gRPC keepalive for both ends: a dead peer is noticed within ~15 s even on an idle stream. */
export const KEEPALIVE_OPTIONS: grpc.ChannelOptions = {
  ...NO_CHANNELZ,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
  'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
};


let cached: ProtoGrpcType | undefined;

/** The berth.v1 package, loaded once per process. */
export function loadBerthProto(): ProtoGrpcType['berth']['v1'] {
  if (!cached) {
    const def = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
    cached = grpc.loadPackageDefinition(def) as unknown as ProtoGrpcType;
  }
  return cached.berth.v1;
}
