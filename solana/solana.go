// Package solana speaks the parts of Solana that justpay needs: base58 addresses and signatures,
// ed25519 deposit keypairs and the USDC mint. It uses only the standard library; no Solana SDK.
package solana

// USDCMint is the address of the USDC token mint on Solana mainnet. Deposits are credited only
// for transfers of this mint.
const USDCMint = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"

// USDCDecimals is the number of decimals of the USDC mint: one USDC is 10^6 base units, the same
// micro-units the ledger counts in.
const USDCDecimals = 6
