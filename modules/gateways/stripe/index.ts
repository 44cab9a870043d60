export { createStripeGateway, createStripeEventVerifier, STRIPE_SIGNATURE_TOLERANCE_SECONDS, type StripeGatewayOptions, type VerifiedStripeEvent } from "./stripe-gateway";
