// The normalizer's contract, written by hand: document/literal, wrapped, with one SOAP 1.1
// and one SOAP 1.2 port at the same address. It lives in a TypeScript module rather than a
// .wsdl file because tsc copies only what it compiles into dist/, and the address in it is
// only known once the service is listening.

import type { NormalizerLimits } from "./defaults.js";
import { escapeXml } from "./xml-writer.js";

export const NORMALIZER_NAMESPACE = "urn:parley:normalizer";
export const NORMALIZER_PATH = "/normalizer";
export const OPERATIONS = ["Normalize", "NormalizeBatch"] as const;
export type OperationName = (typeof OPERATIONS)[number];
/** The element that carries one text, in requests and responses alike. */
export const TEXT_ELEMENT = "text";
export const SERVICE_NAME = "NormalizerService";
export const SOAP11_PORT = "NormalizerSoap11";
export const SOAP12_PORT = "NormalizerSoap12";

export function soapActionOf(operation: OperationName): string {
  return `${NORMALIZER_NAMESPACE}#${operation}`;
}

export function buildWsdl(
  serviceUrl: string,
  limits: Pick<NormalizerLimits, "maxTextChars" | "maxBatchTexts">,
): string {
  const location = escapeXml(serviceUrl, true);
  const operations = (prefix: string) =>
    OPERATIONS.map(
      (name) => `
    <wsdl:operation name="${name}">
      <${prefix}:operation soapAction="${soapActionOf(name)}" style="document"/>
      <wsdl:input><${prefix}:body use="literal"/></wsdl:input>
      <wsdl:output><${prefix}:body use="literal"/></wsdl:output>
    </wsdl:operation>`,
    ).join("");

  return `<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="Normalizer" targetNamespace="${NORMALIZER_NAMESPACE}"
  xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
  xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
  xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
  xmlns:xs="http://www.w3.org/2001/XMLSchema"
  xmlns:tns="${NORMALIZER_NAMESPACE}">
  <wsdl:documentation>
    Parley's text normalizer. Each text comes back with leading and trailing white space
    removed and every run of white space between words replaced by one space, where white
    space is every Unicode White_Space character. A batch answers one text per text sent, in
    order. A text holds at most ${limits.maxTextChars} characters and a batch at most ${limits.maxBatchTexts} texts.
  </wsdl:documentation>
  <wsdl:types>
    <xs:schema targetNamespace="${NORMALIZER_NAMESPACE}" elementFormDefault="qualified">
      <xs:simpleType name="Text">
        <xs:restriction base="xs:string">
          <xs:maxLength value="${limits.maxTextChars}"/>
        </xs:restriction>
      </xs:simpleType>
      <xs:element name="Normalize">
        <xs:complexType><xs:sequence>
          <xs:element name="${TEXT_ELEMENT}" type="tns:Text"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="NormalizeResponse">
        <xs:complexType><xs:sequence>
          <xs:element name="${TEXT_ELEMENT}" type="tns:Text"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="NormalizeBatch">
        <xs:complexType><xs:sequence>
          <xs:element name="${TEXT_ELEMENT}" type="tns:Text" minOccurs="0" maxOccurs="${limits.maxBatchTexts}"/>
        </xs:sequence></xs:complexType>
      </xs:element>
      <xs:element name="NormalizeBatchResponse">
        <xs:complexType><xs:sequence>
          <xs:element name="${TEXT_ELEMENT}" type="tns:Text" minOccurs="0" maxOccurs="${limits.maxBatchTexts}"/>
        </xs:sequence></xs:complexType>
      </xs:element>
    </xs:schema>
  </wsdl:types>
  <wsdl:message name="NormalizeInput"><wsdl:part name="parameters" element="tns:Normalize"/></wsdl:message>
  <wsdl:message name="NormalizeOutput"><wsdl:part name="parameters" element="tns:NormalizeResponse"/></wsdl:message>
  <wsdl:message name="NormalizeBatchInput"><wsdl:part name="parameters" element="tns:NormalizeBatch"/></wsdl:message>
  <wsdl:message name="NormalizeBatchOutput"><wsdl:part name="parameters" element="tns:NormalizeBatchResponse"/></wsdl:message>
  <wsdl:portType name="NormalizerPortType">
    <wsdl:operation name="Normalize">
      <wsdl:input message="tns:NormalizeInput"/>
      <wsdl:output message="tns:NormalizeOutput"/>
    </wsdl:operation>
    <wsdl:operation name="NormalizeBatch">
      <wsdl:input message="tns:NormalizeBatchInput"/>
      <wsdl:output message="tns:NormalizeBatchOutput"/>
    </wsdl:operation>
  </wsdl:portType>
  <wsdl:binding name="${SOAP11_PORT}" type="tns:NormalizerPortType">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>${operations("soap")}
  </wsdl:binding>
  <wsdl:binding name="${SOAP12_PORT}" type="tns:NormalizerPortType">
    <soap12:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>${operations("soap12")}
  </wsdl:binding>
  <wsdl:service name="${SERVICE_NAME}">
    <wsdl:port name="${SOAP11_PORT}" binding="tns:${SOAP11_PORT}">
      <soap:address location="${location}"/>
    </wsdl:port>
    <wsdl:port name="${SOAP12_PORT}" binding="tns:${SOAP12_PORT}">
      <soap12:address location="${location}"/>
    </wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`;
}
