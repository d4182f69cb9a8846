// strong-soap ships no types. These declare only what Parley calls: building a client from a
// WSDL URL and invoking an operation on one of its ports.

declare module "strong-soap" {
  import type { Agent } from "node:http";

  /** Options passed through to the HTTP request (the `request` module's options). */
  export interface SoapRequestOptions {
    readonly agent?: Agent;
    /** Connect timeout, and the longest wait for the response headers or the next body bytes. */
    readonly timeout?: number;
  }

  export interface SoapClientOptions {
    /** Where operations are posted, instead of the WSDL's soap:address. */
    readonly endpoint?: string;
    /** Loaded WSDLs by URL; strong-soap shares one process-wide cache unless given its own. */
    readonly WSDL_CACHE?: Record<string, unknown>;
    /** Request options for fetching the WSDL. */
    readonly wsdl_options?: SoapRequestOptions;
    readonly wsdl_headers?: Readonly<Record<string, string>>;
    /** Whether request envelopes are indented; true unless set. */
    readonly prettyPrint?: boolean;
  }

  export interface SoapOperationResult {
    /** The output element as strong-soap parsed it (every text node trimmed). */
    readonly result: unknown;
    /** The response body: the SOAP envelope as received. */
    readonly envelope: string;
  }

  /**
   * Rejects with an Error whose message carries the faultcode and faultstring when the
   * service answers with a Fault. An argument object whose value is `{ $xml: string }` is
   * written into the envelope as is, already escaped.
   */
  export type SoapOperation = (
    args: object,
    options?: SoapRequestOptions,
    extraHeaders?: Readonly<Record<string, string>>,
  ) => Promise<SoapOperationResult>;

  /** Services by name, each a record of ports by name, each a record of operations by name. */
  export interface SoapClient {
    describe(): Record<string, Record<string, Record<string, unknown>>>;
    readonly [service: string]: unknown;
  }

  export const soap: {
    createClient(
      url: string,
      options: SoapClientOptions,
      callback: (error: Error | null | undefined, client: SoapClient | undefined) => void,
    ): void;
  };
}
