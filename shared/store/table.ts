import type { CreateTableCommandInput } from '@aws-sdk/client-dynamodb';

/**
 * The single table's shape. The CDK stack, the local start-up and the tests all build the table
 * from these constants, and the key module builds every key value.
 */
export const TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'expiresAt',
  gsi1: { indexName: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;

/** CreateTable input for DynamoDB Local and tests; the CDK stack builds the same from TABLE. */
export const tableDefinition = (tableName: string): CreateTableCommandInput => ({
  TableName: tableName,
  AttributeDefinitions: [
    { AttributeName: TABLE.partitionKey, AttributeType: 'S' },
    { AttributeName: TABLE.sortKey, AttributeType: 'S' },
    { AttributeName: TABLE.gsi1.partitionKey, AttributeType: 'S' },
    { AttributeName: TABLE.gsi1.sortKey, AttributeType: 'S' },
  ],
  KeySchema: [
    { AttributeName: TABLE.partitionKey, KeyType: 'HASH' },
    { AttributeName: TABLE.sortKey, KeyType: 'RANGE' },
  ],
  GlobalSecondaryIndexes: [
    {
      IndexName: TABLE.gsi1.indexName,
      KeySchema: [
        { AttributeName: TABLE.gsi1.partitionKey, KeyType: 'HASH' },
        { AttributeName: TABLE.gsi1.sortKey, KeyType: 'RANGE' },
      ],
      Projection: { ProjectionType: 'ALL' },
    },
  ],
  BillingMode: 'PAY_PER_REQUEST',
});
