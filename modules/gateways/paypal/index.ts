export { createPaypalGateway, type PaypalGatewayOptions } from "./paypal-gateway";
export { createPaypalEventVerifier, type PaypalEventVerifierOptions, type PaypalVerification, type VerifiedPaypalEvent } from "./paypal-events";
